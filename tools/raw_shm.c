/*
 * raw_shm: the floor for ipcbench's shared-memory transport, and the memcpy bandwidth its
 * throughput is compared with.
 *
 *   raw_shm pingpong SIZE COUNT WARMUP CPU_PARENT CPU_CHILD
 *   raw_shm memcpy SIZE CPU
 *
 * pingpong: two processes (fork) share an anonymous mapping holding one SIZE-byte buffer per
 * direction, 64-byte aligned, whose first 8 bytes are a sequence number. The parent stores the
 * next sequence number (release); the child spins until it sees it (acquire), copies the rest
 * of the buffer to the other direction and stores the sequence number there; the parent spins
 * until it sees it and records the round trip. At 64 bytes this is one cache line per direction
 * and nothing else: the least any shared-memory round trip can cost on this machine.
 * Prints "pingpong <size> p50_ns=<n> p99_ns=<n> count=<n>".
 *
 * memcpy: copies SIZE bytes between two buffers on one pinned CPU for about half a second and
 * prints "memcpy <size> bytes_per_s=<n>".
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
    if (sched_setaffinity(0, sizeof set, &set) != 0) { perror("sched_setaffinity"); exit(1); }
}

static int cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int pingpong(size_t size, long count, long warmup, int cpu_parent, int cpu_child) {
    size_t stride = (size + 63) / 64 * 64;
    char *m = mmap(0, 2 * stride, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) { perror("mmap"); return 1; }
    memset(m, 0, 2 * stride);
    char *a = m, *b = m + stride;
    uint64_t *seq_a = (uint64_t *)a, *seq_b = (uint64_t *)b;
    pid_t child = fork();
    if (child == 0) {
        pin(cpu_child);
        for (uint64_t i = 1; i <= (uint64_t)(warmup + count); i++) {
            while (__atomic_load_n(seq_a, __ATOMIC_ACQUIRE) != i) __builtin_ia32_pause();
            memcpy(b + 8, a + 8, size - 8);
            __atomic_store_n(seq_b, i, __ATOMIC_RELEASE);
        }
        _exit(0);
    }
    pin(cpu_parent);
    uint64_t *lat = malloc(sizeof(uint64_t) * (size_t)count);
    for (uint64_t i = 1; i <= (uint64_t)(warmup + count); i++) {
        uint64_t t0 = now_ns();
        memcpy(a + 8, &t0, 8); /* a timestamp, as a header would carry */
        __atomic_store_n(seq_a, i, __ATOMIC_RELEASE);
        while (__atomic_load_n(seq_b, __ATOMIC_ACQUIRE) != i) __builtin_ia32_pause();
        uint64_t t1 = now_ns();
        if ((long)i > warmup) lat[i - 1 - warmup] = t1 - t0;
    }
    waitpid(child, 0, 0);
    qsort(lat, (size_t)count, sizeof *lat, cmp);
    long r50 = (count * 50 + 99) / 100, r99 = (count * 99 + 99) / 100;
    printf("pingpong %zu p50_ns=%lu p99_ns=%lu count=%ld\n", size, (unsigned long)lat[r50 - 1],
           (unsigned long)lat[r99 - 1], count);
    return 0;
}

static int memcpy_bw(size_t size, int cpu) {
    pin(cpu);
    char *src = aligned_alloc(4096, (size + 4095) / 4096 * 4096), *dst = aligned_alloc(4096, (size + 4095) / 4096 * 4096);
    memset(src, 1, size);
    memset(dst, 2, size);
    uint64_t bytes = 0, start = now_ns(), t;
    do {
        for (int i = 0; i < 16; i++) {
            memcpy(dst, src, size);
            __asm__ volatile("" ::"r"(dst) : "memory");
            bytes += size;
        }
        t = now_ns();
    } while (t - start < 500000000u);
    printf("memcpy %zu bytes_per_s=%.0f\n", size, (double)bytes * 1e9 / (double)(t - start));
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 7 && strcmp(argv[1], "pingpong") == 0 && atol(argv[2]) >= 16 && atol(argv[3]) > 0)
        return pingpong(strtoul(argv[2], 0, 10), atol(argv[3]), atol(argv[4]), atoi(argv[5]), atoi(argv[6]));
    if (argc == 4 && strcmp(argv[1], "memcpy") == 0 && atol(argv[2]) > 0)
        return memcpy_bw(strtoul(argv[2], 0, 10), atoi(argv[3]));
    fprintf(stderr, "usage: %s pingpong SIZE COUNT WARMUP CPU_PARENT CPU_CHILD | memcpy SIZE CPU\n", argv[0]);
    return 2;
}
