/* Content hashes: XXH3 (fast, stable across platforms and versions). */
#include "narrate/core.h"

#include <xxhash.h>

void nr_hash_hex(const void *data, size_t len, char out[33]) {
    XXH128_hash_t h = XXH3_128bits(data, len);
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.high64,
             (unsigned long long)h.low64);
}

uint64_t nr_hash64(const void *data, size_t len) {
    return XXH3_64bits(data, len);
}
