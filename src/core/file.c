/* Files: whole-file reads, atomic writes (temp + fsync + rename), appends. */
#include "narrate/core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Process-wide I/O error injection for tests (0 = off). */
static atomic_long fail_write_at = -1; /* -1: environment not read yet */

void nr_file_fail_write_after(size_t n) {
    atomic_store(&fail_write_at, (long)n);
}

static int write_should_fail(void) {
    long at = atomic_load(&fail_write_at);
    if (at < 0) {
        const char *e = getenv("NARRATE_FAIL_WRITE");
        at = e ? atol(e) : 0;
        long expected = -1;
        atomic_compare_exchange_strong(&fail_write_at, &expected, at);
        at = atomic_load(&fail_write_at);
    }
    if (at <= 0)
        return 0;
    long left = atomic_fetch_sub(&fail_write_at, 1);
    return left == 1;
}

enum nr_status nr_file_read(const char *path, char **out, size_t *len, struct nr_err *err) {
    *out = NULL;
    if (len)
        *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nr_err_set(err, NR_STATUS_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return nr_err_set(err, NR_STATUS_IO, "%s: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return nr_err_set(err, NR_STATUS_IO, "%s: is a directory, not a file", path);
    }
    struct nr_buf b = {0};
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            nr_buf_deinit(&b);
            return nr_err_set(err, NR_STATUS_IO, "%s: read: %s", path, strerror(e));
        }
        if (n == 0)
            break;
        if (nr_buf_append(&b, chunk, (size_t)n) != NR_OK) {
            close(fd);
            nr_buf_deinit(&b);
            return nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", path);
        }
    }
    close(fd);
    size_t n = b.len;
    char *data = nr_buf_take(&b);
    if (!data)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", path);
    *out = data;
    if (len)
        *len = n;
    return NR_OK;
}

static void fsync_parent(const char *path) {
    char *copy = nr_strdup(path);
    if (!copy)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    nr_free(copy);
}

/* A file being written is NAME.tmp.XXXXXX, XXXXXX from mkstemp. */
#define TMP_SUFFIX ".tmp."

enum nr_status nr_atomic_open(struct nr_atomic_file *af, const char *path, struct nr_err *err) {
    memset(af, 0, sizeof *af);
    size_t n = strlen(path) + 16;
    af->tmp_path = nr_malloc(n);
    af->final_path = nr_strdup(path);
    if (!af->tmp_path || !af->final_path) {
        nr_atomic_abort(af);
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", path);
    }
    snprintf(af->tmp_path, n, "%s" TMP_SUFFIX "XXXXXX", path);
    int fd = mkstemp(af->tmp_path);
    if (fd < 0) {
        int e = errno;
        nr_free(af->tmp_path);
        af->tmp_path = NULL;
        nr_atomic_abort(af);
        return nr_err_set(err, NR_STATUS_IO, "%s: cannot create: %s", path, strerror(e));
    }
    fchmod(fd, 0644);
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        int e = errno;
        close(fd);
        nr_atomic_abort(af);
        return nr_err_set(err, NR_STATUS_IO, "%s: %s", path, strerror(e));
    }
    return NR_OK;
}

enum nr_status nr_atomic_commit(struct nr_atomic_file *af, struct nr_err *err) {
    const char *path = af->final_path ? af->final_path : "(file)";
    if (write_should_fail()) {
        nr_err_set(err, NR_STATUS_IO, "%s: write failed: injected write error", path);
        nr_atomic_abort(af);
        return NR_STATUS_IO;
    }
    int failed = ferror(af->fp) || fflush(af->fp) != 0 ||
                 (!af->skip_data_sync && fsync(fileno(af->fp)) != 0);
    int e = errno;
    if (fclose(af->fp) != 0 && !failed) {
        failed = 1;
        e = errno;
    }
    af->fp = NULL;
    if (failed) {
        nr_err_set(err, NR_STATUS_IO, "%s: write failed: %s", path, strerror(e));
        nr_atomic_abort(af);
        return NR_STATUS_IO;
    }
    if (rename(af->tmp_path, af->final_path) != 0) {
        e = errno;
        nr_err_set(err, NR_STATUS_IO, "%s: rename failed: %s", path, strerror(e));
        nr_atomic_abort(af);
        return NR_STATUS_IO;
    }
    if (!af->skip_dir_sync)
        fsync_parent(af->final_path);
    nr_free(af->tmp_path);
    nr_free(af->final_path);
    af->tmp_path = af->final_path = NULL;
    return NR_OK;
}

void nr_atomic_abort(struct nr_atomic_file *af) {
    if (af->fp)
        fclose(af->fp);
    if (af->tmp_path)
        unlink(af->tmp_path);
    nr_free(af->tmp_path);
    nr_free(af->final_path);
    memset(af, 0, sizeof *af);
}

/* 1 for a name nr_atomic_open gives: something, TMP_SUFFIX, then the six
 * letters or digits mkstemp put in place of XXXXXX. */
static int is_temp_name(const char *name) {
    size_t len = strlen(name), k = strlen(TMP_SUFFIX) + 6;
    if (len <= k || memcmp(name + len - k, TMP_SUFFIX, strlen(TMP_SUFFIX)) != 0)
        return 0;
    for (const char *x = name + len - 6; *x; x++)
        if (!((*x >= 'a' && *x <= 'z') || (*x >= 'A' && *x <= 'Z') || (*x >= '0' && *x <= '9')))
            return 0;
    return 1;
}

size_t nr_atomic_remove_leftovers(const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (is_temp_name(de->d_name) && unlinkat(dirfd(d), de->d_name, 0) == 0)
            n++;
    closedir(d);
    return n;
}

enum nr_status nr_file_write_atomic(const char *path, const void *data, size_t len,
                                    struct nr_err *err) {
    struct nr_atomic_file af;
    enum nr_status st = nr_atomic_open(&af, path, err);
    if (st != NR_OK)
        return st;
    if (len && fwrite(data, 1, len, af.fp) != len) {
        int e = errno;
        nr_atomic_abort(&af);
        return nr_err_set(err, NR_STATUS_IO, "%s: write failed: %s", path, strerror(e));
    }
    return nr_atomic_commit(&af, err);
}

enum nr_status nr_file_append_line(const char *path, const char *line, struct nr_err *err) {
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return nr_err_set(err, NR_STATUS_IO, "%s: %s", path, strerror(errno));
    size_t n = strlen(line);
    /* One write() per line so concurrent appenders never interleave. */
    char *tmp = nr_malloc(n + 1);
    if (!tmp) {
        close(fd);
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", path);
    }
    memcpy(tmp, line, n);
    tmp[n] = '\n';
    ssize_t w = write(fd, tmp, n + 1);
    int e = errno;
    nr_free(tmp);
    close(fd);
    if (w != (ssize_t)(n + 1))
        return nr_err_set(err, NR_STATUS_IO, "%s: append failed: %s", path,
                          w < 0 ? strerror(e) : "short write");
    return NR_OK;
}

enum nr_status nr_mkdir_p(const char *path, struct nr_err *err) {
    char *p = nr_strdup(path);
    if (!p)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "%s: out of memory", path);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    for (char *s = p + 1;; s++) {
        int end = (*s == '\0');
        if (*s == '/' || end) {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                int e = errno;
                nr_err_set(err, NR_STATUS_IO, "%s: cannot create folder: %s", p, strerror(e));
                nr_free(p);
                return NR_STATUS_IO;
            }
            struct stat st;
            if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
                nr_err_set(err, NR_STATUS_IO, "%s: exists and is not a folder", p);
                nr_free(p);
                return NR_STATUS_IO;
            }
            *s = c;
        }
        if (end)
            break;
    }
    nr_free(p);
    return NR_OK;
}

int nr_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *nr_path_join(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    while (na > 1 && a[na - 1] == '/')
        na--;
    char *p = nr_malloc(na + nb + 2);
    if (!p)
        return NULL;
    memcpy(p, a, na);
    p[na] = '/';
    memcpy(p + na + 1, b, nb + 1);
    return p;
}
