/* NVML provider: libnvidia-ml is loaded at run time with dlopen, so narrate
 * builds and runs on machines without the NVIDIA driver. The few NVML types
 * used are declared here from the NVML API reference; no nvml.h is needed.
 *
 * One sample is one call set: memory info (v2 where the driver has it),
 * utilization, and the compute-process list (count first, then the list)
 * for this process's share. The process query costs milliseconds, which is
 * why the render samples once per batch and not in a loop. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpu_internal.h"

/* ---- the NVML ABI subset (types as the NVML reference defines them) ---- */

typedef int nvml_return;                    /* nvmlReturn_t */
typedef struct nvml_device_st *nvml_device; /* nvmlDevice_t */

#define NVML_SUCCESS 0
#define NVML_ERROR_INSUFFICIENT_SIZE 7

struct nvml_memory_v1 { /* nvmlMemory_t */
    unsigned long long total, free, used;
};
struct nvml_memory_v2 { /* nvmlMemory_v2_t */
    unsigned int version;
    unsigned long long total, reserved, free, used;
};
/* nvmlMemory_v2: sizeof(nvmlMemory_v2_t) | 2 << 24 */
#define NVML_MEMORY_V2_VERSION ((unsigned int)(sizeof(struct nvml_memory_v2) | (2u << 24)))
_Static_assert(sizeof(struct nvml_memory_v2) == 40, "nvmlMemory_v2_t is 40 bytes");

struct nvml_utilization { /* nvmlUtilization_t */
    unsigned int gpu, memory;
};

/* nvmlProcessInfo_t comes in three strides; every one starts with
 * `unsigned int pid` at offset 0 and `unsigned long long usedGpuMemory` at
 * offset 8, so entries are read by offset with the stride of the function
 * version in use:
 *   v1 (plain function)  {pid, used}                                  16 bytes
 *   v2 (_v2, and _v3 on most drivers) {pid, used, gpuInstanceId, computeInstanceId} 24
 *   _v3 on the drivers whose header briefly added usedGpuCcProtectedMemory: 32 */
#define PROC_STRIDE_MAX 32

typedef nvml_return (*fn_void)(void);
typedef nvml_return (*fn_count)(unsigned int *);
typedef nvml_return (*fn_handle)(unsigned int, nvml_device *);
typedef nvml_return (*fn_name)(nvml_device, char *, unsigned int);
typedef nvml_return (*fn_mem1)(nvml_device, struct nvml_memory_v1 *);
typedef nvml_return (*fn_mem2)(nvml_device, struct nvml_memory_v2 *);
typedef nvml_return (*fn_util)(nvml_device, struct nvml_utilization *);
typedef nvml_return (*fn_procs)(nvml_device, unsigned int *, void *);
typedef const char *(*fn_errstr)(nvml_return);
typedef nvml_return (*fn_version)(char *, unsigned int);

struct nr__nvml {
    void *lib; /* dlopen handle; one per provider (dlopen and nvmlInit are reference-counted) */
    nvml_device dev;
    fn_void shutdown;
    fn_mem1 mem1;
    fn_mem2 mem2; /* NULL when the driver lacks nvmlDeviceGetMemoryInfo_v2 */
    fn_util util;
    fn_procs procs;
    size_t proc_stride;
    int mem2_failed; /* v2 returned an error once: use v1 from then on */
};

/* dlsym returns void *; POSIX guarantees the bits are a usable function
 * pointer. memcpy keeps the conversion free of pedantic and aliasing issues. */
#define LOAD(dst, lib, name)                                                                       \
    do {                                                                                           \
        void *p_ = dlsym(lib, name);                                                               \
        _Static_assert(sizeof(dst) == sizeof p_, "function pointers are pointer-sized");           \
        memcpy(&(dst), &p_, sizeof p_);                                                            \
    } while (0)

static int has_sym(void *lib, const char *name) {
    return dlsym(lib, name) != NULL;
}

static const char *errstr(void *lib, nvml_return r) {
    fn_errstr f;
    LOAD(f, lib, "nvmlErrorString");
    const char *s = f ? f(r) : NULL;
    return s ? s : "unknown NVML error";
}

/* Which compute-process function and stride this driver has (see above). */
static void pick_proc_function(struct nr__nvml *n) {
    LOAD(n->procs, n->lib, "nvmlDeviceGetComputeRunningProcesses_v3");
    if (n->procs) {
        int cc_layout = has_sym(n->lib, "nvmlDeviceGetConfComputeMemSizeInfo") &&
                        !has_sym(n->lib, "nvmlDeviceGetRunningProcessDetailList");
        n->proc_stride = cc_layout ? 32 : 24;
        return;
    }
    LOAD(n->procs, n->lib, "nvmlDeviceGetComputeRunningProcesses_v2");
    if (n->procs) {
        n->proc_stride = 24;
        return;
    }
    LOAD(n->procs, n->lib, "nvmlDeviceGetComputeRunningProcesses");
    n->proc_stride = 16;
}

static void no_gpu(struct nr_gpu *g, void *lib, const char *what, nvml_return r) {
    snprintf(g->detail, sizeof g->detail, "NVML: %s: %s", what, errstr(lib, r));
}

/* The entry points needed to find a device; 0 when any is missing. */
struct entry {
    fn_void init, shutdown;
    fn_count count;
    fn_handle handle;
};

static int load_entry(void *lib, struct entry *e) {
    LOAD(e->init, lib, "nvmlInit_v2");
    if (!e->init)
        LOAD(e->init, lib, "nvmlInit");
    LOAD(e->shutdown, lib, "nvmlShutdown");
    LOAD(e->count, lib, "nvmlDeviceGetCount_v2");
    if (!e->count)
        LOAD(e->count, lib, "nvmlDeviceGetCount");
    LOAD(e->handle, lib, "nvmlDeviceGetHandleByIndex_v2");
    if (!e->handle)
        LOAD(e->handle, lib, "nvmlDeviceGetHandleByIndex");
    return e->init && e->shutdown && e->count && e->handle;
}

/* Name and the detail line of an opened device. */
static void describe(struct nr_gpu *g, const struct nr__nvml *n, const char *path, int index,
                     unsigned int n_dev) {
    fn_name name;
    LOAD(name, n->lib, "nvmlDeviceGetName");
    if (!name || name(n->dev, g->name, sizeof g->name) != NVML_SUCCESS || !g->name[0])
        snprintf(g->name, sizeof g->name, "NVIDIA GPU %d", index);
    g->name[sizeof g->name - 1] = '\0';
    char version[96] = "";
    fn_version ver;
    LOAD(ver, n->lib, "nvmlSystemGetDriverVersion");
    if (!ver || ver(version, sizeof version) != NVML_SUCCESS)
        snprintf(version, sizeof version, "?");
    version[sizeof version - 1] = '\0';
    snprintf(g->detail, sizeof g->detail,
             "NVML (%s), driver %s, device %d of %u, memory info %s, %zu-byte process records",
             path, version, index, n_dev, n->mem2 ? "v2" : "v1", n->proc_stride);
}

enum nr_status nr__nvml_open(struct nr_gpu *g, int index, struct nr_err *err) {
    const char *path = getenv("NARRATE_NVML_LIB");
    if (!path || !*path)
        path = "libnvidia-ml.so.1";
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror();
        snprintf(g->detail, sizeof g->detail, "NVML not available: %s", why ? why : path);
        return NR_OK;
    }
    /* Every failure below but two (index out of range, no memory) means
     * "no GPU": g->detail says why and the result is NR_OK. */
    enum nr_status st = NR_OK;
    struct entry e;
    int inited = 0;
    unsigned int n_dev = 0;
    nvml_device dev = NULL;
    nvml_return r;
    if (!load_entry(lib, &e)) {
        snprintf(g->detail, sizeof g->detail, "NVML: %s lacks nvmlInit/nvmlDeviceGetCount", path);
        goto fail;
    }
    if ((r = e.init()) != NVML_SUCCESS) {
        no_gpu(g, lib, "init", r);
        goto fail;
    }
    inited = 1;
    if ((r = e.count(&n_dev)) != NVML_SUCCESS) {
        no_gpu(g, lib, "device count", r);
        goto fail;
    }
    if (n_dev == 0) {
        snprintf(g->detail, sizeof g->detail, "NVML: no NVIDIA GPU found");
        goto fail;
    }
    if (index < 0 || (unsigned)index >= n_dev) {
        st = nr_err_set(err, NR_STATUS_INVALID_ARG, "GPU index %d out of range (%u GPU%s: 0..%u)",
                        index, n_dev, n_dev == 1 ? "" : "s", n_dev - 1);
        goto fail;
    }
    if ((r = e.handle((unsigned)index, &dev)) != NVML_SUCCESS) {
        no_gpu(g, lib, "device handle", r); /* e.g. a GPU the driver cannot talk to */
        goto fail;
    }
    struct nr__nvml *n = nr_calloc(1, sizeof *n);
    if (!n) {
        st = nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
        goto fail;
    }
    n->lib = lib;
    n->dev = dev;
    n->shutdown = e.shutdown;
    LOAD(n->mem1, lib, "nvmlDeviceGetMemoryInfo");
    LOAD(n->mem2, lib, "nvmlDeviceGetMemoryInfo_v2");
    LOAD(n->util, lib, "nvmlDeviceGetUtilizationRates");
    pick_proc_function(n);
    describe(g, n, path, index, n_dev);
    g->nvml = n;
    return NR_OK;
fail:
    if (inited)
        e.shutdown();
    dlclose(lib);
    return st;
}

static int read_memory(struct nr__nvml *n, struct nr_gpu_sample *s) {
    if (n->mem2 && !n->mem2_failed) {
        struct nvml_memory_v2 m;
        memset(&m, 0, sizeof m);
        m.version = NVML_MEMORY_V2_VERSION;
        if (n->mem2(n->dev, &m) == NVML_SUCCESS) {
            s->total = m.total;
            s->reserved = m.reserved;
            s->free = m.free;
            s->used = m.used;
            return 1;
        }
        n->mem2_failed = 1; /* e.g. a version mismatch: v1 still works */
    }
    if (!n->mem1)
        return 0;
    struct nvml_memory_v1 m;
    memset(&m, 0, sizeof m);
    if (n->mem1(n->dev, &m) != NVML_SUCCESS)
        return 0;
    s->total = m.total;
    s->free = m.free;
    s->used = m.used;
    s->reserved = NR_GPU_UNKNOWN;
    return 1;
}

#define PID_MAX_LIMIT 4194304u /* the kernel's ceiling for pid_max on 64-bit */

/* Records read with this stride look like process records: a possible PID
 * and a memory figure no larger than the device (or "not available"). */
static int plausible(const unsigned char *buf, unsigned int n, size_t stride, uint64_t total) {
    for (unsigned int i = 0; i < n; i++) {
        unsigned int pid;
        unsigned long long used;
        memcpy(&pid, buf + i * stride, sizeof pid);
        memcpy(&used, buf + i * stride + 8, sizeof used);
        if (pid == 0 || pid > PID_MAX_LIMIT || (used > total && used != NR_GPU_UNKNOWN))
            return 0;
    }
    return 1;
}

/* This process's device memory, summed over its entries (one per MIG
 * instance). In a container with its own PID namespace NVML reports host
 * PIDs, which never match getpid(); when none of the listed PIDs exists
 * here the answer is "unknown" rather than a misleading 0. */
static uint64_t read_proc_used(struct nr__nvml *n, uint64_t device_total) {
    if (!n->procs)
        return NR_GPU_UNKNOWN;
    unsigned int count = 0;
    nvml_return r = n->procs(n->dev, &count, NULL);
    if (r == NVML_SUCCESS)
        return 0; /* no compute process at all, so not this one either */
    if (r != NVML_ERROR_INSUFFICIENT_SIZE || count == 0)
        return NR_GPU_UNKNOWN;
    /* Room for processes that start between the two calls; PROC_STRIDE_MAX
     * per entry so a wrong stride guess can never overflow the buffer. */
    unsigned int cap = count + 8;
    unsigned char *buf = nr_calloc(cap, PROC_STRIDE_MAX);
    if (!buf)
        return NR_GPU_UNKNOWN;
    unsigned int got = cap;
    uint64_t total = NR_GPU_UNKNOWN;
    if (n->procs(n->dev, &got, buf) == NVML_SUCCESS && got <= cap) {
        /* The stride is chosen from the driver's symbols; should the records
         * not look like records with it, the other layouts are tried (only
         * matters with two or more processes). */
        static const size_t strides[] = {24, 32, 16};
        if (!plausible(buf, got, n->proc_stride, device_total))
            for (size_t k = 0; k < 3; k++)
                if (plausible(buf, got, strides[k], device_total)) {
                    n->proc_stride = strides[k];
                    break;
                }
        unsigned int me = (unsigned int)getpid();
        uint64_t sum = 0;
        int found = 0, visible = 0;
        for (unsigned int i = 0; i < got; i++) {
            unsigned int pid;
            unsigned long long used;
            memcpy(&pid, buf + i * n->proc_stride, sizeof pid);
            memcpy(&used, buf + i * n->proc_stride + 8, sizeof used);
            char proc_path[32];
            struct stat st;
            snprintf(proc_path, sizeof proc_path, "/proc/%u", pid);
            if (stat(proc_path, &st) == 0)
                visible = 1;
            if (pid == me) {
                found = 1;
                if (used != NR_GPU_UNKNOWN)
                    sum += used;
            }
        }
        if (found)
            total = sum;
        else if (visible || got == 0)
            total = 0;
    }
    nr_free(buf);
    return total;
}

void nr__nvml_sample(struct nr__nvml *n, struct nr_gpu_sample *s) {
    if (!read_memory(n, s)) {
        memset(s, 0, sizeof *s);
        s->t = nr_now();
        return;
    }
    s->valid = 1;
    s->util_percent = -1;
    struct nvml_utilization u;
    if (n->util && n->util(n->dev, &u) == NVML_SUCCESS && u.gpu <= 100)
        s->util_percent = (int)u.gpu;
    s->proc_used = read_proc_used(n, s->total);
}

void nr__nvml_close(struct nr__nvml *n) {
    if (!n)
        return;
    n->shutdown();
    dlclose(n->lib);
    nr_free(n);
}
