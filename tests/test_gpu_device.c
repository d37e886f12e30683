/* The NVML provider on a real GPU (label gpu; exits 77 without one):
 * name, totals, and a 1 GiB cudaMalloc that must show up in this process's
 * memory (or, where a PID namespace hides the process, in the device's).
 * The CUDA runtime is loaded with dlopen so this test builds everywhere:
 * NARRATE_CUDART_LIB, else libcudart.so{,.13,.12}, else /usr/local/cuda. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "narrate/gpu.h"

#define GIB 1073741824.0

struct cudart {
    void *lib;
    int (*set_device)(int);
    int (*malloc_)(void **, size_t);
    int (*memset_)(void *, int, size_t);
    int (*sync)(void);
    int (*free_)(void *);
};

#define LOAD(dst, name)                                                                            \
    do {                                                                                           \
        void *p_ = dlsym(c->lib, name);                                                            \
        memcpy(&(dst), &p_, sizeof p_);                                                            \
        if (!p_)                                                                                   \
            return 0;                                                                              \
    } while (0)

static int load_cudart(struct cudart *c) {
    const char *names[] = {getenv("NARRATE_CUDART_LIB"), "libcudart.so", "libcudart.so.13",
                           "libcudart.so.12", "/usr/local/cuda/lib64/libcudart.so"};
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !c->lib; i++)
        if (names[i] && *names[i])
            c->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!c->lib)
        return 0;
    LOAD(c->set_device, "cudaSetDevice");
    LOAD(c->malloc_, "cudaMalloc");
    LOAD(c->memset_, "cudaMemset");
    LOAD(c->sync, "cudaDeviceSynchronize");
    LOAD(c->free_, "cudaFree");
    return 1;
}

static void show(const char *what, const struct nr_gpu_sample *s) {
    char vram[64];
    nr_gpu_format_vram(s, vram, sizeof vram);
    printf("%-14s VRAM %s, this process %s%.3f GB, util %d%%\n", what, vram,
           s->proc_used == NR_GPU_UNKNOWN ? "(unknown) " : "",
           s->proc_used == NR_GPU_UNKNOWN ? 0.0 : (double)s->proc_used / GIB, s->util_percent);
}

int main(void) {
    unsetenv("NARRATE_FAKE_GPU");
    struct nr_gpu *g = NULL;
    struct nr_err err = {0};
    if (nr_gpu_open(0, &g, &err) != NR_OK) {
        fprintf(stderr, "nr_gpu_open: %s\n", err.msg);
        return 1;
    }
    if (!nr_gpu_present(g)) {
        printf("no GPU: %s\n", nr_gpu_detail(g));
        nr_gpu_free(g);
        return NR_SKIP;
    }
    printf("%s\n", nr_gpu_detail(g));
    struct nr_buf b = {0};
    CHECK_EQ(nr_gpu_startup_report(g, 3, -1, &b, &err), NR_OK);
    printf("%s", b.data ? b.data : "");
    nr_buf_deinit(&b);

    CHECK(strlen(nr_gpu_name(g)) > 0);
    CHECK_STR(nr_gpu_provider(g), "nvml");
    struct nr_gpu_sample a, s2, c0;
    double t0 = nr_now();
    nr_gpu_sample(g, &a);
    printf("one sample (memory + utilization + process list): %.2f ms\n", (nr_now() - t0) * 1e3);
    CHECK_EQ(a.valid, 1);
    CHECK(a.total > 0);
    CHECK(a.used <= a.total);
    CHECK(a.free <= a.total);
    CHECK(nr_gpu_sample_percent(&a) >= 0 && nr_gpu_sample_percent(&a) <= 100);
    show("before CUDA", &a);

    struct cudart cu = {0};
    if (!load_cudart(&cu)) {
        printf("CUDA runtime not found (set NARRATE_CUDART_LIB): allocation check skipped\n");
        nr_gpu_free(g);
        return check_failures ? check_result("test_gpu_device") : NR_SKIP;
    }
    void *p = NULL;
    CHECK_EQ(cu.set_device(0), 0);
    CHECK_EQ(cu.free_(NULL), 0); /* creates the context */
    CHECK_EQ(cu.sync(), 0);
    nr_gpu_sample(g, &a);
    show("context", &a);
    size_t n = (size_t)1 << 30;
    CHECK_EQ(cu.malloc_(&p, n), 0);
    CHECK_EQ(cu.memset_(p, 0x5a, n), 0);
    CHECK_EQ(cu.sync(), 0);
    nr_gpu_sample(g, &s2);
    show("+1 GiB", &s2);
    double dev_delta = ((double)s2.used - (double)a.used) / GIB;
    printf("device used +%.3f GB\n", dev_delta);
    CHECK(dev_delta > 0.9 && dev_delta < 1.3);
    if (a.proc_used != NR_GPU_UNKNOWN && s2.proc_used != NR_GPU_UNKNOWN) {
        double proc_delta = ((double)s2.proc_used - (double)a.proc_used) / GIB;
        printf("this process +%.3f GB\n", proc_delta);
        CHECK(proc_delta > 0.9 && proc_delta < 1.3);
        CHECK(s2.proc_used <= s2.used);
    } else {
        printf("NOTE: this process is not in NVML's process list (PID namespace?); "
               "checked the device total only\n");
    }
    CHECK_EQ(cu.free_(p), 0);
    CHECK_EQ(cu.sync(), 0);
    nr_gpu_sample(g, &c0);
    show("freed", &c0);
    CHECK((double)c0.used < (double)s2.used - 0.8 * GIB);
    nr_gpu_free(g);
    return check_result("test_gpu_device");
}
