/* The server's defences, kept small and separate so each one is tested on
 * its own: the workspace confinement of paths, the Host check against DNS
 * rebinding, the token, and upload names. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server_internal.h"

static int has_dotdot(const char *path) {
    const char *p = path;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return 1;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

static int inside(const char *root, const char *path) {
    size_t n = strlen(root);
    if (n == 1 && root[0] == '/')
        return path[0] == '/';
    return strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

enum nr_status nr__path_confine(const char *root, const char *path, int must_exist, char **out,
                                struct nr_err *err) {
    *out = NULL;
    if (!path || !*path)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "empty path");
    if (strlen(path) >= PATH_MAX)
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "path too long");
    if (has_dotdot(path))
        return nr_err_set(err, NR_STATUS_INVALID_ARG,
                          "path \"%s\" contains \"..\": paths must stay inside the workspace",
                          path);
    char *full = path[0] == '/' ? nr_strdup(path) : nr_path_join(root, path);
    if (!full)
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
    /* Strip trailing slashes so the walk below sees the last name. */
    for (size_t n = strlen(full); n > 1 && full[n - 1] == '/'; n--)
        full[n - 1] = '\0';
    char real[PATH_MAX];
    enum nr_status st = NR_OK;
    if (realpath(full, real)) {
        if (!inside(root, real))
            st = nr_err_set(err, NR_STATUS_INVALID_ARG, "path \"%s\" is outside the workspace",
                            path);
        else if (!(*out = nr_strdup(real)))
            st = nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
        nr_free(full);
        return st;
    }
    if (errno == ENOTDIR) {
        nr_free(full);
        return nr_err_set(err, NR_STATUS_INVALID_ARG, "\"%s\": a parent is not a folder", path);
    }
    if (errno != ENOENT || must_exist) {
        st = errno == ENOENT ? nr_err_set(err, NR_STATUS_IO, "\"%s\" does not exist", path)
                             : nr_err_set(err, NR_STATUS_IO, "\"%s\": %s", path, strerror(errno));
        nr_free(full);
        return st;
    }
    /* Not there yet (an output folder): resolve the longest existing
     * parent; the missing rest has no ".." and no links, so it stays where
     * the parent is. */
    char *parent = nr_strdup(full);
    if (!parent) {
        nr_free(full);
        return nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
    }
    for (;;) {
        char *slash = strrchr(parent, '/');
        if (!slash) {
            st = nr_err_set(err, NR_STATUS_INVALID_ARG, "path \"%s\" is outside the workspace",
                            path);
            break;
        }
        const char *rest = full + (slash - parent) + 1;
        if (slash == parent)
            slash[1] = '\0'; /* the parent is "/" */
        else
            *slash = '\0';
        if (realpath(parent, real)) {
            struct stat sb;
            struct nr_buf b = {0};
            if (!inside(root, real))
                st = nr_err_set(err, NR_STATUS_INVALID_ARG, "path \"%s\" is outside the workspace",
                                path);
            else if (stat(real, &sb) != 0 || !S_ISDIR(sb.st_mode))
                st = nr_err_set(err, NR_STATUS_INVALID_ARG, "\"%s\": a parent is not a folder",
                                path);
            else if (nr_buf_printf(&b, "%s/%s", strcmp(real, "/") ? real : "", rest) != NR_OK)
                st = nr_err_set(err, NR_STATUS_NO_MEMORY, "out of memory");
            else
                *out = nr_buf_take(&b);
            nr_buf_deinit(&b);
            break;
        }
        if (errno != ENOENT || slash == parent) {
            st = nr_err_set(err, NR_STATUS_IO, "\"%s\": %s", path, strerror(errno));
            break;
        }
    }
    nr_free(parent);
    nr_free(full);
    return st;
}

static int is_ip_literal(const char *h, size_t n) {
    char buf[64];
    unsigned char addr[16];
    if (n == 0 || n >= sizeof buf)
        return 0;
    if (h[0] == '[' && h[n - 1] == ']') {
        memcpy(buf, h + 1, n - 2);
        buf[n - 2] = '\0';
        return inet_pton(AF_INET6, buf, addr) == 1;
    }
    memcpy(buf, h, n);
    buf[n] = '\0';
    return inet_pton(AF_INET, buf, addr) == 1;
}

static int is_loopback_name(const char *h) {
    return strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0 || strcmp(h, "localhost") == 0;
}

int nr__host_allowed(const char *bound_host, int port, const char *host) {
    if (!host || !*host)
        return 0;
    const char *colon = strrchr(host, ':');
    if (!colon || (strchr(host, ']') && colon < strchr(host, ']')))
        return 0; /* the port is required: it is part of what the page was opened at */
    char *end = NULL;
    long p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || p != port)
        return 0;
    size_t n = (size_t)(colon - host);
    int v6 = strchr(bound_host, ':') != NULL;
    char want[80];
    snprintf(want, sizeof want, v6 ? "[%s]" : "%s", bound_host);
    if (strlen(want) == n && strncasecmp(host, want, n) == 0)
        return 1;
    if (n == 9 && strncasecmp(host, "localhost", 9) == 0)
        return is_loopback_name(bound_host) || strcmp(bound_host, "0.0.0.0") == 0 ||
               strcmp(bound_host, "::") == 0;
    if (strcmp(bound_host, "0.0.0.0") == 0 || strcmp(bound_host, "::") == 0)
        return is_ip_literal(host, n);
    return 0;
}

int nr__token_equal(const char *a, const char *b) {
    if (!a || !b)
        return 0;
    size_t na = strlen(a), nb = strlen(b);
    unsigned char diff = (unsigned char)(na != nb);
    for (size_t i = 0; i < nb; i++)
        diff |= (unsigned char)(a[i < na ? i : 0] ^ b[i]);
    return diff == 0 && na > 0;
}

enum nr_status nr__token_make(char out[65], struct nr_err *err) {
    unsigned char raw[32];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nr_err_set(err, NR_STATUS_IO, "/dev/urandom: %s", strerror(errno));
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = read(fd, raw + got, sizeof raw - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return nr_err_set(err, NR_STATUS_IO, "/dev/urandom: short read");
        }
        got += (size_t)n;
    }
    close(fd);
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof raw; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[64] = '\0';
    return NR_OK;
}

int nr__upload_name_ok(const char *name) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 100 || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == ' '))
            return 0;
    }
    const char *dot = strrchr(name, '.');
    return dot &&
           (strcmp(dot, ".txt") == 0 || strcmp(dot, ".md") == 0 || strcmp(dot, ".epub") == 0);
}
