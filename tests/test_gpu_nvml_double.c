/* A stand-in libnvidia-ml for CI: the few NVML entry points narrate uses,
 * with the ABI of the NVML reference (return codes, struct layouts, the
 * count-first protocol of the process query), built three ways:
 *   DOUBLE_MODERN  _v2 init/count/handle, memory v2, processes _v3 with the
 *                  24-byte record (the driver also has the detail-list API)
 *   DOUBLE_CC      as modern, but the driver generation whose _v3 record is
 *                  32 bytes (conf-compute symbol, no detail-list symbol)
 *   DOUBLE_OLD     unversioned functions only: memory v1, 16-byte records
 *   DOUBLE_MISMATCH the symbols of DOUBLE_CC but 24-byte records, to check
 *                  that implausible records make the reader try the others
 * Loaded by test_gpu through NARRATE_NVML_LIB. The memory figures are fixed
 * so the test knows the expected sample exactly. Environment:
 *   NVML_DOUBLE_COUNT=n   device count (default 1)
 *   NVML_DOUBLE_INIT=9    nvmlInit returns this code
 *   NVML_DOUBLE_MEM2=25   nvmlDeviceGetMemoryInfo_v2 returns this code
 *   NVML_DOUBLE_MEM=15    both memory queries return this code (GPU lost) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIB 1048576ULL
#define TOTAL (81559 * MIB)
#define RESERVED (530 * MIB)
#define USED (1234 * MIB) /* excluding the reserve, as memory v2 reports it */

#if defined(DOUBLE_MODERN) || defined(DOUBLE_MISMATCH)
#define STRIDE 24
#elif defined(DOUBLE_CC)
#define STRIDE 32
#else
#define STRIDE 16
#endif

struct memory_v1 {
    unsigned long long total, free, used;
};
struct memory_v2 {
    unsigned int version;
    unsigned long long total, reserved, free, used;
};
struct utilization {
    unsigned int gpu, memory;
};

static int device_tag; /* its address is the one device handle */

static int env_int(const char *name, int def) {
    const char *v = getenv(name);
    return v && *v ? atoi(v) : def;
}

const char *nvmlErrorString(int r);
const char *nvmlErrorString(int r) {
    switch (r) {
    case 0:
        return "Success";
    case 2:
        return "Invalid Argument";
    case 7:
        return "Insufficient Size";
    case 9:
        return "Driver Not Loaded";
    case 25:
        return "Argument version mismatch";
    default:
        return "Unknown Error";
    }
}

static int do_init(void) {
    return env_int("NVML_DOUBLE_INIT", 0);
}
static int do_count(unsigned int *n) {
    *n = (unsigned)env_int("NVML_DOUBLE_COUNT", 1);
    return 0;
}
static int do_handle(unsigned int i, void **dev) {
    if (i >= (unsigned)env_int("NVML_DOUBLE_COUNT", 1))
        return 2;
    *dev = &device_tag;
    return 0;
}

int nvmlShutdown(void);
int nvmlShutdown(void) {
    return 0;
}

#if defined(DOUBLE_OLD)
int nvmlInit(void);
int nvmlInit(void) {
    return do_init();
}
int nvmlDeviceGetCount(unsigned int *n);
int nvmlDeviceGetCount(unsigned int *n) {
    return do_count(n);
}
int nvmlDeviceGetHandleByIndex(unsigned int i, void **dev);
int nvmlDeviceGetHandleByIndex(unsigned int i, void **dev) {
    return do_handle(i, dev);
}
#else
int nvmlInit_v2(void);
int nvmlInit_v2(void) {
    return do_init();
}
int nvmlDeviceGetCount_v2(unsigned int *n);
int nvmlDeviceGetCount_v2(unsigned int *n) {
    return do_count(n);
}
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **dev);
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **dev) {
    return do_handle(i, dev);
}
int nvmlSystemGetDriverVersion(char *buf, unsigned int len);
int nvmlSystemGetDriverVersion(char *buf, unsigned int len) {
    if (len < 8)
        return 7;
    strcpy(buf, "999.99");
    return 0;
}
int nvmlDeviceGetConfComputeMemSizeInfo(void *dev, void *info);
int nvmlDeviceGetConfComputeMemSizeInfo(void *dev, void *info) {
    (void)dev, (void)info;
    return 3;
}
#endif
#if defined(DOUBLE_MODERN)
int nvmlDeviceGetRunningProcessDetailList(void *dev, void *list);
int nvmlDeviceGetRunningProcessDetailList(void *dev, void *list) {
    (void)dev, (void)list;
    return 3;
}
#endif

int nvmlDeviceGetName(void *dev, char *name, unsigned int len);
int nvmlDeviceGetName(void *dev, char *name, unsigned int len) {
    const char *n = "NVIDIA Double 80GB";
    if (dev != &device_tag)
        return 2;
    if (len < strlen(n) + 1)
        return 7;
    strcpy(name, n);
    return 0;
}

int nvmlDeviceGetMemoryInfo(void *dev, struct memory_v1 *m);
int nvmlDeviceGetMemoryInfo(void *dev, struct memory_v1 *m) {
    if (dev != &device_tag)
        return 2;
    if (env_int("NVML_DOUBLE_MEM", 0))
        return env_int("NVML_DOUBLE_MEM", 0);
    m->total = TOTAL;
    m->used = USED + RESERVED; /* v1 counts the reserve as used */
    m->free = TOTAL - USED - RESERVED;
    return 0;
}

#if !defined(DOUBLE_OLD)
int nvmlDeviceGetMemoryInfo_v2(void *dev, struct memory_v2 *m);
int nvmlDeviceGetMemoryInfo_v2(void *dev, struct memory_v2 *m) {
    if (dev != &device_tag)
        return 2;
    if (m->version != (40u | 2u << 24)) /* nvmlMemory_v2 */
        return 25;
    if (env_int("NVML_DOUBLE_MEM", 0))
        return env_int("NVML_DOUBLE_MEM", 0);
    if (env_int("NVML_DOUBLE_MEM2", 0))
        return env_int("NVML_DOUBLE_MEM2", 0);
    m->total = TOTAL;
    m->reserved = RESERVED;
    m->used = USED;
    m->free = TOTAL - USED - RESERVED;
    return 0;
}
#endif

int nvmlDeviceGetUtilizationRates(void *dev, struct utilization *u);
int nvmlDeviceGetUtilizationRates(void *dev, struct utilization *u) {
    if (dev != &device_tag)
        return 2;
    u->gpu = 42;
    u->memory = 17;
    return 0;
}

/* Three records: pid 1 (another process), and this process twice (as on a
 * MIG device), 1.5 GiB + 0.5 GiB. */
static int procs(void *dev, unsigned int *count, void *infos) {
    if (dev != &device_tag || !count)
        return 2;
    if (*count < 3) {
        *count = 3;
        return 7;
    }
    if (!infos)
        return 2;
    unsigned int pids[3] = {1, (unsigned)getpid(), (unsigned)getpid()};
    unsigned long long used[3] = {5 * 1024 * MIB, 1536 * MIB, 512 * MIB};
    unsigned char *p = infos;
    memset(p, 0xAB, (size_t)*count * STRIDE); /* garbage beyond the records */
    for (int i = 0; i < 3; i++) {
        unsigned char *r = p + i * STRIDE;
        memset(r, 0, STRIDE);
        memcpy(r, &pids[i], 4);
        memcpy(r + 8, &used[i], 8);
#if STRIDE >= 24
        unsigned int none = 0xFFFFFFFFu;
        memcpy(r + 16, &none, 4);
        memcpy(r + 20, &none, 4);
#endif
    }
    *count = 3;
    return 0;
}

#if defined(DOUBLE_OLD)
int nvmlDeviceGetComputeRunningProcesses(void *dev, unsigned int *count, void *infos);
int nvmlDeviceGetComputeRunningProcesses(void *dev, unsigned int *count, void *infos) {
    return procs(dev, count, infos);
}
#else
int nvmlDeviceGetComputeRunningProcesses_v3(void *dev, unsigned int *count, void *infos);
int nvmlDeviceGetComputeRunningProcesses_v3(void *dev, unsigned int *count, void *infos) {
    return procs(dev, count, infos);
}
#endif
