/* libFuzzer target for the manifest parser: each input is written to a temp
 * file and loaded with nr_manifest_load; a loaded manifest is saved and
 * loaded again, and must come back the same.
 *
 *   build-fuzz/src/text/fuzz_manifest -max_total_time=180 corpus/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "narrate/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char paths[2][256];
static int registered;

/* Removes the temp files when the fuzzer exits. */
static void remove_temps(void) {
    for (size_t i = 0; i < 2; i++)
        if (paths[i][0])
            unlink(paths[i]);
}

static const char *temp_path(const char *tag) {
    char *path = paths[tag[0] == 'b'];
    if (!path[0]) {
        const char *dir = getenv("TMPDIR");
        snprintf(path, 256, "%s/fuzz-manifest-%s-XXXXXX.json", dir ? dir : "/tmp", tag);
        int fd = mkstemps(path, 5);
        if (fd < 0)
            abort();
        close(fd);
        if (!registered++)
            atexit(remove_temps);
    }
    return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = temp_path("a");
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    struct nr_manifest *m = NULL, *back = NULL;
    struct nr_err err = {0};
    if (nr_manifest_load(path, &m, &err) != NR_OK) {
        if (m)
            abort();
        return 0;
    }
    const char *path2 = temp_path("b");
    if (nr_manifest_save(m, path2, &err) != NR_OK || nr_manifest_load(path2, &back, &err) != NR_OK)
        abort(); /* what loads must save and load again */
    if (back->n_chunks != m->n_chunks || back->n_chapters != m->n_chapters ||
        strcmp(back->audio_settings, m->audio_settings) != 0 || back->rehashed)
        abort();
    for (size_t i = 0; i < m->n_chunks; i++)
        if (strcmp(back->chunks[i].text, m->chunks[i].text) != 0 ||
            strcmp(back->chunks[i].hash, m->chunks[i].hash) != 0)
            abort();
    nr_manifest_free(back);
    nr_manifest_free(m);
    return 0;
}
