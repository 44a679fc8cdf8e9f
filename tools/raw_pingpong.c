/*
 * raw_pingpong: the minimal two-process ping-pong ipcbench is held against.
 *
 * The parent writes a message of SIZE bytes, the child reads it whole and writes it back, the
 * parent reads it whole and records the round trip on CLOCK_MONOTONIC. No framing, no header,
 * no checks: what a hand-written benchmark does, and the floor ipcbench should sit close to.
 *
 *   raw_pingpong uds|tcp block|spin SIZE COUNT WARMUP CPU_PARENT CPU_CHILD
 *
 * Prints one line: "<transport> <wait> <size> p50_ns=<n> p99_ns=<n> count=<n>".
 * CPU -1 leaves a side unpinned. spin uses non-blocking recv/send in a busy loop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int spin;

static void die(const char *what) { perror(what); exit(1); }

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void pin(int cpu) {
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
}

static int read_full(int fd, char *buf, size_t n) {
    size_t off = 0;
    while (off < n) {
        ssize_t r = recv(fd, buf + off, n - off, spin ? MSG_DONTWAIT : 0);
        if (r > 0) off += (size_t)r;
        else if (r == 0) return -1;
        else if (errno != EAGAIN && errno != EINTR) return -1;
    }
    return 0;
}

static int write_full(int fd, const char *buf, size_t n) {
    size_t off = 0;
    while (off < n) {
        ssize_t r = send(fd, buf + off, n - off, spin ? MSG_DONTWAIT : 0);
        if (r > 0) off += (size_t)r;
        else if (r < 0 && errno != EAGAIN && errno != EINTR) return -1;
    }
    return 0;
}

static int cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: %s uds|tcp block|spin SIZE COUNT WARMUP CPU_PARENT CPU_CHILD\n", argv[0]);
        return 2;
    }
    int tcp = strcmp(argv[1], "tcp") == 0;
    spin = strcmp(argv[2], "spin") == 0;
    size_t size = strtoul(argv[3], 0, 10);
    long count = atol(argv[4]), warmup = atol(argv[5]);
    int cpu_parent = atoi(argv[6]), cpu_child = atoi(argv[7]);
    if (size == 0 || count <= 0) { fprintf(stderr, "SIZE and COUNT must be positive\n"); return 2; }

    int fds[2];
    if (tcp) {
        int l = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof a;
        if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) ||
            getsockname(l, (struct sockaddr *)&a, &len)) die("tcp listen");
        fds[0] = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fds[0], (struct sockaddr *)&a, sizeof a)) die("connect");
        fds[1] = accept(l, 0, 0);
        close(l);
        int one = 1;
        setsockopt(fds[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(fds[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    } else if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds)) {
        die("socketpair");
    }

    char *buf = calloc(1, size);
    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        close(fds[0]);
        pin(cpu_child);
        for (long i = 0; i < warmup + count; i++)
            if (read_full(fds[1], buf, size) || write_full(fds[1], buf, size)) _exit(1);
        _exit(0);
    }
    close(fds[1]);
    pin(cpu_parent);
    uint64_t *lat = malloc(sizeof(uint64_t) * (size_t)count);
    for (long i = 0; i < warmup + count; i++) {
        uint64_t t0 = now_ns();
        if (write_full(fds[0], buf, size) || read_full(fds[0], buf, size)) die("ping-pong");
        uint64_t t1 = now_ns();
        if (i >= warmup) lat[i - warmup] = t1 - t0;
    }
    waitpid(child, 0, 0);
    qsort(lat, (size_t)count, sizeof *lat, cmp);
    /* nearest rank, as ipcbench's histogram reports it */
    long r50 = (count * 50 + 99) / 100, r99 = (count * 99 + 99) / 100;
    printf("%s %s %zu p50_ns=%lu p99_ns=%lu count=%ld\n", argv[1], argv[2], size,
           (unsigned long)lat[r50 - 1], (unsigned long)lat[r99 - 1], count);
    return 0;
}
