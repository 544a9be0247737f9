/*
 * jobs/owner.c — lease owner identities and same-host liveness.
 *
 * An owner is "host:pid:starttime:random".  starttime is the process start time
 * from /proc/<pid>/stat (field 22), so a recycled pid is never mistaken for the
 * worker that died: a job whose owner is certainly dead goes back to the queue at
 * once instead of waiting for its lease to expire.
 */
#include "jobs_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Start time of pid in clock ticks since boot, 0 if unknown. */
static unsigned long long proc_starttime(long pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
    if (!p) return 0;
    p++;
    /* after ')' come fields 3.. ; starttime is field 22, i.e. the 20th after comm */
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p + 1, ' ');
    }
    return p ? strtoull(p + 1, NULL, 10) : 0;
}

static void host_name(char *buf, size_t n) {
    if (gethostname(buf, n) != 0) snprintf(buf, n, "localhost");
    buf[n - 1] = 0;
    for (char *p = buf; *p; p++)
        if (*p == ':') *p = '_';
}

void jobs_owner_make(char *buf, size_t n) {
    char host[256];
    host_name(host, sizeof host);
    uint64_t r = (uint64_t)mm_mono_ns() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid();
    snprintf(buf, n, "%s:%ld:%llu:%08llx", host, (long)getpid(), proc_starttime(getpid()),
             (unsigned long long)(r >> 32));
}

int jobs_owner_alive(const char *owner) {
    if (!owner) return -1;
    char host[256];
    host_name(host, sizeof host);
    size_t hl = strlen(host);
    if (strncmp(owner, host, hl) != 0 || owner[hl] != ':') return -1;
    char *end;
    long pid = strtol(owner + hl + 1, &end, 10);
    if (*end != ':' || pid <= 0) return -1;
    unsigned long long start = strtoull(end + 1, NULL, 10);
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) return 0;
    unsigned long long now = proc_starttime(pid);
    if (now == 0) return access("/proc/self/stat", R_OK) == 0 ? 0 : -1; /* gone between the calls */
    if (start && now != start) return 0;                                  /* pid recycled */
    /* A zombie (killed, not yet reaped by its parent) is dead too. */
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "re");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *p = strrchr(buf, ')');
        if (p && (p[2] == 'Z' || p[2] == 'X')) return 0;
    }
    return 1;
}
