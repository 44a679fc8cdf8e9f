/*
 * raw_shm: the floor for ipcbench's shared-memory transport, and the memcpy bandwidth its
 * throughput is compared with.
 *
 *   raw_shm pingpong SIZE COUNT WARMUP CPU_PARENT CPU_CHILD [monotonic|tsc]
 *   raw_shm stream SIZE SLOTS COUNT CPU_PRODUCER CPU_CONSUMER
 *   raw_shm memcpy SIZE CPU
 *
 * pingpong: two processes (fork) share an anonymous mapping holding one SIZE-byte buffer per
 * direction, 64-byte aligned, whose first 8 bytes are a sequence number. The parent stores the
 * next sequence number (release); the child spins until it sees it (acquire), copies the rest
 * of the buffer to the other direction and stores the sequence number there; the parent spins
 * until it sees it and records the round trip. At 64 bytes this is one cache line per direction
 * and nothing else: the least any shared-memory round trip can cost on this machine.
 * The parent times each round trip with clock_gettime(CLOCK_MONOTONIC) (the default), or with
 * `tsc`: __rdtscp, converted to ns at a rate calibrated against CLOCK_MONOTONIC over ~100 ms
 * before the run (each end of the interval the tightest of 16 clock-TSC-clock brackets, so a
 * preemption cannot skew it; x86_64 only; a warning on stderr if the CPU does not report an
 * invariant TSC).
 * Prints "pingpong <size> p50_ns=<n> p99_ns=<n> count=<n> clock=<monotonic|tsc>", and for tsc
 * also "tsc_ghz=<rate>".
 *
 * stream: two processes (fork) share an anonymous mapping laid out as ipcbench's shm ring is:
 * a 4096-byte control page (here holding only the consumer's position, on its own cache line),
 * then SLOTS slots of SIZE bytes, each starting at a multiple of the stride SIZE rounded up to
 * 64 (so every slot is 64-byte aligned). The child produces, the parent consumes. Message n
 * (from 0) goes to slot n % SLOTS. Protocol (SPSC, lock-free, no syscalls):
 *   - the slot's first 8 bytes are its sequence word; bytes 8..16 carry n (the header) and
 *     bytes 16..SIZE are all set to (uint8_t)n, every byte written, as ipcbench's throughput
 *     sender does; then the producer stores n + 1 into the sequence word (release). The word
 *     shares the slot's first cache line, so the consumer polls the slot it expects and no
 *     separate "head" counter is ever written or read;
 *   - the consumer spins until the sequence word of its next slot reads n + 1 (acquire), sums
 *     every 8-byte word of the slot (an asm barrier keeps the sum, so the reads stay), then
 *     stores its position n + 1 (release) into the control page: that store is after the reads,
 *     so the producer can never overwrite a slot still being read;
 *   - the producer keeps a private copy of that position and re-reads the shared one (acquire)
 *     only when its copy says the ring is full (n - position == SLOTS), so in the steady state
 *     the position's cache line moves only when the producer has actually caught up.
 * Before timing, the parent writes the whole mapping (faulting the pages in) and both sides run
 * 4 * SLOTS (at least 64) untimed warm-up messages, which touch every slot on both sides. The
 * consumer then times COUNT messages, from the moment the last warm-up message was released to
 * the moment the last timed one was, and prints "stream <size> bytes_per_s=<n> count=<n>".
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
#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

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

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The pingpong's clock: CLOCK_MONOTONIC in ns, or raw TSC ticks (scaled after the run). */
static int use_tsc;

static inline uint64_t clock_read(void) {
#if defined(__x86_64__)
    if (use_tsc) {
        unsigned aux;
        return __rdtscp(&aux);
    }
#endif
    return now_ns();
}

#if defined(__x86_64__)
/* One (CLOCK_MONOTONIC, TSC) pair: the TSC read between two clock reads, the tightest bracket of
 * 16 tries taken, so that a preemption in between (the machine is shared) cannot skew it. */
static void tsc_pair(uint64_t *mono_ns, uint64_t *tsc) {
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 16; i++) {
        unsigned aux;
        uint64_t a = now_ns(), c = __rdtscp(&aux), b = now_ns();
        if (b - a < best) {
            best = b - a;
            *mono_ns = a + (b - a) / 2;
            *tsc = c;
        }
    }
}
#endif

/* ns per TSC tick, measured against CLOCK_MONOTONIC over ~100 ms (asleep in between). */
static double tsc_calibrate(void) {
#if defined(__x86_64__)
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(0x80000007, &eax, &ebx, &ecx, &edx) || !(edx & (1u << 8)))
        fprintf(stderr, "warning: the CPU does not report an invariant TSC; clock=tsc may drift\n");
    uint64_t m0, c0, m1, c1;
    tsc_pair(&m0, &c0);
    struct timespec d = {0, 100000000};
    nanosleep(&d, 0);
    tsc_pair(&m1, &c1);
    return (double)(m1 - m0) / (double)(c1 - c0);
#else
    return 0;
#endif
}

static int pingpong(size_t size, long count, long warmup, int cpu_parent, int cpu_child) {
    size_t stride = (size + 63) / 64 * 64;
    char *m = mmap(0, 2 * stride, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) { perror("mmap"); return 1; }
    memset(m, 0, 2 * stride);
    char *a = m, *b = m + stride;
    uint64_t *seq_a = (uint64_t *)a, *seq_b = (uint64_t *)b;
    pid_t child = fork();
    if (child < 0) { perror("fork"); return 1; }
    if (child == 0) {
        pin(cpu_child);
        for (uint64_t i = 1; i <= (uint64_t)(warmup + count); i++) {
            while (__atomic_load_n(seq_a, __ATOMIC_ACQUIRE) != i) cpu_relax();
            memcpy(b + 8, a + 8, size - 8);
            __atomic_store_n(seq_b, i, __ATOMIC_RELEASE);
        }
        _exit(0);
    }
    pin(cpu_parent);
    double ns_per_tick = use_tsc ? tsc_calibrate() : 1.0;
    uint64_t *lat = malloc(sizeof(uint64_t) * (size_t)count);
    if (!lat) { perror("malloc"); return 1; }
    for (uint64_t i = 1; i <= (uint64_t)(warmup + count); i++) {
        uint64_t t0 = clock_read();
        memcpy(a + 8, &t0, 8); /* a timestamp, as a header would carry */
        __atomic_store_n(seq_a, i, __ATOMIC_RELEASE);
        while (__atomic_load_n(seq_b, __ATOMIC_ACQUIRE) != i) cpu_relax();
        uint64_t t1 = clock_read();
        if ((long)i > warmup) lat[i - 1 - warmup] = t1 - t0;
    }
    waitpid(child, 0, 0);
    qsort(lat, (size_t)count, sizeof *lat, cmp);
    long r50 = (count * 50 + 99) / 100, r99 = (count * 99 + 99) / 100;
    printf("pingpong %zu p50_ns=%.0f p99_ns=%.0f count=%ld clock=%s", size, (double)lat[r50 - 1] * ns_per_tick,
           (double)lat[r99 - 1] * ns_per_tick, count, use_tsc ? "tsc" : "monotonic");
    if (use_tsc) printf(" tsc_ghz=%.4f", 1.0 / ns_per_tick);
    printf("\n");
    return 0;
}

/* Two 16-byte lanes of u64, read straight from the slot (which is 64-byte aligned). */
typedef uint64_t u64x2 __attribute__((vector_size(16), may_alias));

/* Sums every 8-byte word of p[0..size) (size a multiple of 8), and any trailing bytes. */
static inline uint64_t sum_words(const char *p, size_t size) {
    const u64x2 *v = (const u64x2 *)p;
    u64x2 s0 = {0, 0}, s1 = {0, 0}, s2 = {0, 0}, s3 = {0, 0};
    size_t blocks = size / 64, i;
    for (i = 0; i < blocks; i++) { /* four independent accumulators: 64 bytes an iteration */
        s0 += v[4 * i];
        s1 += v[4 * i + 1];
        s2 += v[4 * i + 2];
        s3 += v[4 * i + 3];
    }
    s0 += s1 + s2 + s3;
    uint64_t sum = s0[0] + s0[1];
    for (i = blocks * 64; i + 8 <= size; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        sum += w;
    }
    for (; i < size; i++) sum += (unsigned char)p[i];
    return sum;
}

static int stream(size_t size, size_t slots, long count, int cpu_producer, int cpu_consumer) {
    const size_t page = 4096, stride = (size + 63) / 64 * 64;
    size_t ring = (stride * slots + page - 1) / page * page, total = page + ring;
    char *m = mmap(0, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) { perror("mmap"); return 1; }
    memset(m, 0, total); /* faults every page of the shared object in before anyone times */
    uint64_t *tail = (uint64_t *)m; /* the consumer's position: messages released so far */
    char *base = m + page;
    uint64_t warm = 4 * (uint64_t)slots < 64 ? 64 : 4 * (uint64_t)slots, total_msgs = warm + (uint64_t)count;
    pid_t child = fork();
    if (child < 0) { perror("fork"); return 1; }
    if (child == 0) { /* the producer */
        pin(cpu_producer);
        uint64_t cached_tail = 0;
        size_t k = 0; /* n % slots, kept without a division */
        for (uint64_t n = 0; n < total_msgs; n++) {
            while (n - cached_tail >= slots) {
                cached_tail = __atomic_load_n(tail, __ATOMIC_ACQUIRE);
                if (n - cached_tail >= slots) cpu_relax();
            }
            char *slot = base + k * stride;
            memcpy(slot + 8, &n, 8);
            memset(slot + 16, (unsigned char)n, size - 16);
            __atomic_store_n((uint64_t *)slot, n + 1, __ATOMIC_RELEASE);
            if (++k == slots) k = 0;
        }
        _exit(0);
    }
    pin(cpu_consumer); /* the consumer, which times */
    uint64_t t0 = 0;
    size_t k = 0;
    for (uint64_t n = 0; n < total_msgs; n++) {
        if (n == warm) t0 = now_ns();
        const char *slot = base + k * stride;
        while (__atomic_load_n((const uint64_t *)slot, __ATOMIC_ACQUIRE) != n + 1) cpu_relax();
        uint64_t sum = sum_words(slot, size);
        __asm__ volatile("" ::"r"(sum)); /* the sum is used, so every read stays */
        __atomic_store_n(tail, n + 1, __ATOMIC_RELEASE);
        if (++k == slots) k = 0;
    }
    uint64_t t1 = now_ns();
    int status;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) { fprintf(stderr, "producer failed\n"); return 1; }
    printf("stream %zu bytes_per_s=%.0f count=%ld\n", size, (double)count * (double)size * 1e9 / (double)(t1 - t0),
           count);
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
    if ((argc == 7 || argc == 8) && strcmp(argv[1], "pingpong") == 0 && atol(argv[2]) >= 16 && atol(argv[3]) > 0) {
        if (argc == 8 && strcmp(argv[7], "tsc") == 0) {
#if defined(__x86_64__)
            use_tsc = 1;
#else
            fprintf(stderr, "clock tsc needs x86_64\n");
            return 2;
#endif
        } else if (argc == 8 && strcmp(argv[7], "monotonic") != 0) {
            fprintf(stderr, "clock must be monotonic or tsc, not %s\n", argv[7]);
            return 2;
        }
        return pingpong(strtoul(argv[2], 0, 10), atol(argv[3]), atol(argv[4]), atoi(argv[5]), atoi(argv[6]));
    }
    if (argc == 7 && strcmp(argv[1], "stream") == 0 && atol(argv[2]) >= 16 && atol(argv[3]) > 0 && atol(argv[4]) > 0)
        return stream(strtoul(argv[2], 0, 10), strtoul(argv[3], 0, 10), atol(argv[4]), atoi(argv[5]), atoi(argv[6]));
    if (argc == 4 && strcmp(argv[1], "memcpy") == 0 && atol(argv[2]) > 0)
        return memcpy_bw(strtoul(argv[2], 0, 10), atoi(argv[3]));
    fprintf(stderr,
            "usage: %s pingpong SIZE COUNT WARMUP CPU_PARENT CPU_CHILD [monotonic|tsc]\n"
            "       %s stream SIZE SLOTS COUNT CPU_PRODUCER CPU_CONSUMER\n"
            "       %s memcpy SIZE CPU\n",
            argv[0], argv[0], argv[0]);
    return 2;
}
