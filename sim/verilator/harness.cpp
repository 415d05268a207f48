// Verilator harness of RedMulE: the TCDM memory model of sim/memory.py and the peripheral driver of
// sim/driver.py, cycle for cycle, in C++ (sim/verilator/builder.py builds it, sim/verilator/harness.py
// speaks the protocol below).
//
// The harness depends only on the documented top-level ports (docs/architecture.md, "Ports"): clk, rst,
// tcdm__{req,gnt,add,wen,be,data,r_valid,r_data}, periph__{req,gnt,add,wen,be,data,id,r_valid,r_data,
// r_id}, evt. Verilator spells "__" in a port name as "___05F". Register offsets and the port width
// come from redmule.h, the C header `redmule-hdl generate` writes (redmule_hdl.spec.render.c_header),
// which the build puts beside this file.
//
// Usage: Vharness MEMFILE BASE SIZE LATENCY P_REFUSE(hex float) GNT_KEY GARBAGE_KEY WRITE_RESPONSES
//                 [TRACE_FILE START STOP]
//   MEMFILE is mapped shared (the Python side maps the same file as its memory array).
//   TRACE_FILE (builds with REDMULE_TRACE only): the waveform or activity file of cycles [START, STOP)
//   (STOP -1: to the end), in the format the build traces (FST, VCD or SAIF). Time is in ps with a
//   1 us clock period, as Amaranth's simulator writes it: cycle c's inputs settle at c us (clk low),
//   its rising edge is at c + 0.5 us (clk high).
//   *_KEY are the MT19937 init_by_array keys of Python's random.Random(seed) (comma-separated 32-bit
//   words, least significant first): GNT_KEY from seed, GARBAGE_KEY from seed ^ 0x5EED.
// Then one command per line on stdin, one reply line per command on stdout:
//   access OFF WRITE DATA BE   one peripheral transaction (PeriphDriver.access); value: read data
//   idle N                     N cycles
//   acquire MAX_POLLS          poll ACQUIRE until != -1; value: the context id
//   wait COUNT TIMEOUT         tick until COUNT more evt pulses; value: cycle of the last one
//   stab 0|1                   TcdmMemory.check_stability
//   hold 0|1                   TcdmMemory.hold_r_data
//   dump PATH                  write statistics, the request log and the req rises to PATH
//   rng KEY N                  N draws of random.Random (self-test of the generator)
//   info                       reply "ok FAST_EDGE PORT_BITS": whether the fast clock edge runs
//   counts                     reply "ok CYCLE READS WRITES REFUSED BUSY_CYCLES" (no log: cheap)
//   forget                     drop the request log and the req rises kept so far (long sessions)
//   quit
// Replies: "ok VALUE CYCLE LAST_ACCEPT EVT..." (EVT: the evt cycles seen since the previous reply) or
// "err KIND MESSAGE" with KIND protocol (TcdmProtocolError), timeout (TimeoutError), assert
// (AssertionError) or usage.
#include <verilated.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if REDMULE_TRACE == 1
#include <verilated_fst_c.h>
typedef VerilatedFstC TraceFile;
#elif REDMULE_TRACE == 2
#include <verilated_vcd_c.h>
typedef VerilatedVcdC TraceFile;
#elif REDMULE_TRACE == 3
#include <verilated_saif_c.h>
typedef VerilatedSaifC TraceFile;
#endif

#include "Vredmule_top.h"
#include "Vredmule_top___024root.h"
#include "redmule.h"

// ---- version-specific: the fast clock edge (policy and versions in sim/verilator/toolchain.py) --------
// The clock edge without Verilator's input-combinational phase. Vredmule_top::eval() starts every call
// with the "ico" phase (all logic fed by the top-level inputs), whether or not an input changed. The
// harness evaluates each cycle's new inputs with eval() first; the edge that follows has the same
// inputs, so its ico phase would recompute what is already settled: ``edge()`` runs only the
// active/NBA loop of the generated _eval(). These functions are internal to the generated model, so
// the build defines REDMULE_FAST_EDGE only for the Verilator versions the short cut was checked with
// (parity tests against the Amaranth simulator, and against this harness built without it); otherwise
// edge() is eval(). They are weak symbols: should a checked version lack one, the harness falls back
// to eval() at run time instead of failing to link (the "info" command reports which edge runs).
#if defined(REDMULE_FAST_EDGE)
#define FAST_EDGE 1
bool Vredmule_top___024root___eval_phase__act(Vredmule_top___024root*) __attribute__((weak));
bool Vredmule_top___024root___eval_phase__nba(Vredmule_top___024root*) __attribute__((weak));
#else
#define FAST_EDGE 0
#endif

#define TCDM(x) tcdm___05F##x
#define PERIPH(x) periph___05F##x

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the harness assumes a little-endian host");

// ---- Python's random.Random: MT19937 seeded by init_by_array ----------------------------------------
class PyRandom {
    static constexpr int N = 624, M = 397;
    uint32_t mt[N];
    int mti = N + 1;

    void init_genrand(uint32_t s) {
        mt[0] = s;
        for (mti = 1; mti < N; mti++)
            mt[mti] = 1812433253u * (mt[mti - 1] ^ (mt[mti - 1] >> 30)) + (uint32_t)mti;
    }

public:
    explicit PyRandom(const std::vector<uint32_t>& key) {
        init_genrand(19650218u);
        int i = 1, j = 0;
        const int klen = (int)key.size();
        for (int k = (N > klen ? N : klen); k; k--) {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint32_t)j;
            i++;
            j++;
            if (i >= N) { mt[0] = mt[N - 1]; i = 1; }
            if (j >= klen) j = 0;
        }
        for (int k = N - 1; k; k--) {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
            i++;
            if (i >= N) { mt[0] = mt[N - 1]; i = 1; }
        }
        mt[0] = 0x80000000u;
        mti = N;
    }

    uint32_t genrand() {
        static const uint32_t mag01[2] = {0u, 0x9908b0dfu};
        uint32_t y;
        if (mti >= N) {
            int kk;
            for (kk = 0; kk < N - M; kk++) {
                y = (mt[kk] & 0x80000000u) | (mt[kk + 1] & 0x7fffffffu);
                mt[kk] = mt[kk + M] ^ (y >> 1) ^ mag01[y & 1u];
            }
            for (; kk < N - 1; kk++) {
                y = (mt[kk] & 0x80000000u) | (mt[kk + 1] & 0x7fffffffu);
                mt[kk] = mt[kk + (M - N)] ^ (y >> 1) ^ mag01[y & 1u];
            }
            y = (mt[N - 1] & 0x80000000u) | (mt[0] & 0x7fffffffu);
            mt[N - 1] = mt[M - 1] ^ (y >> 1) ^ mag01[y & 1u];
            mti = 0;
        }
        y = mt[mti++];
        y ^= (y >> 11);
        y ^= (y << 7) & 0x9d2c5680u;
        y ^= (y << 15) & 0xefc60000u;
        y ^= (y >> 18);
        return y;
    }

    // random.random(): 53 random bits.
    double random() {
        uint32_t a = genrand() >> 5, b = genrand() >> 6;
        return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
    }

    // random.getrandbits(k), little-endian 32-bit words into out (k > 0).
    void getrandbits(int k, uint32_t* out) {
        if (k <= 32) { out[0] = genrand() >> (32 - k); return; }
        for (int i = 0; k > 0; i++, k -= 32) {
            uint32_t r = genrand();
            if (k < 32) r >>= (32 - k);
            out[i] = r;
        }
    }
};

// ---- moving bytes in and out of Verilator signals of any width ---------------------------------------
template <typename T>
static inline void put_bytes(T& sig, const void* src, size_t n) {
    if constexpr (std::is_integral_v<T>) {
        uint64_t v = 0;
        std::memcpy(&v, src, n);
        sig = (T)v;
    } else {
        std::memcpy(sig.data(), src, n);
        if (n < sizeof(sig)) std::memset((uint8_t*)sig.data() + n, 0, sizeof(sig) - n);
    }
}

template <typename T>
static inline void get_bytes(const T& sig, void* dst, size_t n) {
    if constexpr (std::is_integral_v<T>) {
        uint64_t v = (uint64_t)sig;
        std::memcpy(dst, &v, n);
    } else {
        std::memcpy(dst, sig.data(), n);
    }
}

struct SimError : std::runtime_error {
    std::string kind;
    SimError(const std::string& k, const std::string& m) : std::runtime_error(m), kind(k) {}
};

// Python's format(value, "#x") of a little-endian byte string.
static std::string hex_of(const uint8_t* b, size_t n) {
    static const char* digits = "0123456789abcdef";
    std::string s;
    size_t i = n;
    while (i > 0 && b[i - 1] == 0) i--;
    if (i == 0) return "0x0";
    bool lead = true;
    for (; i > 0; i--) {
        uint8_t v = b[i - 1];
        if (!(lead && (v >> 4) == 0)) s += digits[v >> 4];
        s += digits[v & 15];
        lead = false;
    }
    return "0x" + s;
}

static std::string hex_u64(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%#" PRIx64, v);
    return v ? std::string(buf) : std::string("0x0");
}

// ---- the harness ------------------------------------------------------------------------------------
static constexpr int PORT_BITS = REDMULE_PORT_WIDTH;      // tcdm data width (redmule.h)
static constexpr int NBYTES = PORT_BITS / 8;               // bytes per beat
static constexpr int BE_BYTES = (NBYTES + 7) / 8;          // bytes of the byte-enable vector
static constexpr int WORDS32 = (PORT_BITS + 31) / 32;

struct Request {
    uint32_t add;
    bool wen;
    uint8_t be[BE_BYTES];
    uint8_t data[NBYTES];
};

struct LogEntry {
    uint64_t cycle;
    uint32_t add;
    uint32_t write;
    uint8_t be[BE_BYTES];
};

class Harness {
public:
    VerilatedContext* vctx;
    Vredmule_top* top;
    uint8_t* mem;
    int64_t base, size;
    int latency;
    double p_refuse;
    bool write_responses = false;   // the memory answers writes too (data: the written bytes inverted)
    PyRandom rng, garbage;
    double draw;
    bool check_stability = true;
    bool hold_r_data = false;      // r_data keeps the last response between responses (no garbage)
    bool fast_edge = false;
#if REDMULE_TRACE
    TraceFile* trace = nullptr;
    uint64_t trace_start = 0, trace_stop = 0;   // cycles [start, stop) are written
#endif

    uint64_t cycle = 0;            // clock edges so far (memory, driver and monitor agree)
    int64_t last_accept = -1;
    uint8_t id = 0;
    uint64_t reads = 0, writes = 0, refused = 0, busy_cycles = 0;
    std::vector<LogEntry> log;
    std::vector<uint64_t> req_rises;
    std::vector<uint64_t> evt_cycles;
    size_t evt_reported = 0;
    bool last_req = false;

    bool waiting = false;
    Request wait_req;

    // in-order read responses: ring of (due cycle, data)
    std::vector<uint64_t> resp_due;
    std::vector<uint8_t> resp_data;
    size_t resp_head = 0, resp_count = 0;

    Harness(uint8_t* m, int64_t b, int64_t s, int lat, double p, const std::vector<uint32_t>& gk,
            const std::vector<uint32_t>& xk)
        : mem(m), base(b), size(s), latency(lat), p_refuse(p), rng(gk), garbage(xk) {
        vctx = new VerilatedContext;
#if REDMULE_TRACE
        vctx->traceEverOn(true);
#endif
        top = new Vredmule_top{vctx};
        resp_due.resize(lat + 2);
        resp_data.resize((size_t)(lat + 2) * NBYTES);
        top->clk = 0;
        top->rst = 0;
        top->PERIPH(req) = 0;
        top->PERIPH(add) = 0;
        top->PERIPH(wen) = 0;
        top->PERIPH(be) = 0;
        top->PERIPH(data) = 0;
        top->PERIPH(id) = 0;
#if FAST_EDGE
        fast_edge = Vredmule_top___024root___eval_phase__act && Vredmule_top___024root___eval_phase__nba;
#endif
        draw = rng.random();
        top->TCDM(gnt) = draw >= p_refuse;
        top->TCDM(r_valid) = 0;
        drive_garbage();
    }

#if REDMULE_TRACE
    // Trace cycles [start, stop) into path (stop == UINT64_MAX: to the end).
    void open_trace(const char* path, uint64_t start, uint64_t stop) {
        trace = new TraceFile;
        top->trace(trace, 99);
        trace->set_time_unit("1ps");
        trace->set_time_resolution("1ps");
        trace->open(path);
        if (!trace->isOpen()) throw SimError("usage", std::string("cannot write the trace file ") + path);
        trace_start = start;
        trace_stop = stop;
    }

    void close_trace() {
        if (trace) {
            trace->close();
            delete trace;
            trace = nullptr;
        }
    }

    inline void trace_dump(uint64_t c, bool high) {
        if (trace && c >= trace_start) {
            if (c >= trace_stop) {
                close_trace();
                return;
            }
#if REDMULE_TRACE == 3
            // SAIF counts from time 0 with every bit at 0 before its first dump: times start at the
            // window, so that its duration and toggles are the window's own.
            c -= trace_start;
#endif
            trace->dump(c * 1000000 + (high ? 500000 : 0));
        }
    }
#else
    inline void trace_dump(uint64_t, bool) {}
    void close_trace() {}
#endif

    ~Harness() {
        close_trace();
        top->final();
        delete top;
        delete vctx;
    }

    void drive_garbage() {
        uint32_t w[WORDS32];
        garbage.getrandbits(PORT_BITS, w);
        put_bytes(top->TCDM(r_data), w, NBYTES);
    }

    void check_range(uint64_t c, int64_t addr, int64_t n, const char* what) {
        int64_t lo = addr - base;
        if (lo < 0 || lo + n > size) {
            throw SimError("protocol", "cycle " + std::to_string(c) + ": " + what + " of [" +
                                           hex_u64(addr) + ", " + hex_u64(addr + n) +
                                           ") is outside the memory [" + hex_u64(base) + ", " +
                                           hex_u64(base + size) + ")");
        }
    }

    static std::string show(const Request& r) {
        if (r.wen) return "read " + hex_u64(r.add);
        return "write " + hex_u64(r.add) + " be=" + hex_of(r.be, BE_BYTES) +
               " data=" + hex_of(r.data, NBYTES);
    }

    static bool same(const Request& a, const Request& b) {
        if (a.add != b.add || a.wen != b.wen) return false;
        if (a.wen) return true;
        return !std::memcmp(a.be, b.be, BE_BYTES) && !std::memcmp(a.data, b.data, NBYTES);
    }

    // The rising edge (clk already 1; inputs unchanged since the last eval()).
    inline void edge() {
#if FAST_EDGE
        if (fast_edge) {
            Vredmule_top___024root* r = top->rootp;
            do {
                while (Vredmule_top___024root___eval_phase__act(r)) {
                }
            } while (Vredmule_top___024root___eval_phase__nba(r));
            return;
        }
#endif
        top->eval();
    }

    // One clock cycle: settle the inputs set for this cycle, sample, clock edge, serve the memory.
    // Returns periph.gnt as sampled in the cycle.
    bool tick() {
        Vredmule_top* t = top;
        t->eval();
        const uint64_t c = cycle;
        const bool req = t->TCDM(req);
        const bool gnt = t->TCDM(gnt);
        const bool pgnt = t->PERIPH(gnt);
        if (t->evt) evt_cycles.push_back(c);
        if (req && !last_req) req_rises.push_back(c);
        last_req = req;
        Request now;
        if (req || waiting) {
            now.add = t->TCDM(add);
            now.wen = t->TCDM(wen);
            get_bytes(t->TCDM(be), now.be, BE_BYTES);
            if (!now.wen) get_bytes(t->TCDM(data), now.data, NBYTES);
        }
        trace_dump(c, false);
        t->clk = 1;
        edge();
        trace_dump(c, true);
        t->clk = 0;

        // The memory process (sim/memory.py), for the cycle that just ended.
        if (waiting && check_stability) {
            if (!req)
                throw SimError("protocol", "cycle " + std::to_string(c) + ": request " +
                                               show(wait_req) + " withdrawn before it was granted");
            if (!same(now, wait_req))
                throw SimError("protocol", "cycle " + std::to_string(c) +
                                               ": request changed while waiting for gnt: " +
                                               show(wait_req) + " -> " + show(now));
        }
        waiting = false;
        if (req) {
            draw = rng.random();
            if (now.add % 4)
                throw SimError("protocol", "cycle " + std::to_string(c) + ": address " +
                                               hex_u64(now.add) + " is not word aligned");
            int lo_byte = -1, hi_byte = 0;
            if (now.wen) {
                check_range(c, now.add, NBYTES, "read");
            } else {
                for (int i = 0; i < NBYTES; i++) {
                    if ((now.be[i >> 3] >> (i & 7)) & 1) {
                        if (lo_byte < 0) lo_byte = i;
                        hi_byte = i + 1;
                    }
                }
                if (lo_byte >= 0) check_range(c, (int64_t)now.add + lo_byte, hi_byte - lo_byte, "write");
            }
            if (gnt) {
                busy_cycles++;
                LogEntry e;
                e.cycle = c;
                e.add = now.add;
                e.write = !now.wen;
                std::memcpy(e.be, now.be, BE_BYTES);
                log.push_back(e);
                if (now.wen) {
                    reads++;
                    size_t slot = (resp_head + resp_count) % resp_due.size();
                    if (resp_count == resp_due.size())
                        throw SimError("assert", "harness: too many reads in flight");
                    resp_due[slot] = c + latency;
                    std::memcpy(&resp_data[slot * NBYTES], mem + (now.add - base), NBYTES);
                    resp_count++;
                } else {
                    writes++;
                    uint8_t* dst = mem + (now.add - base);
                    if (lo_byte >= 0)
                        for (int i = lo_byte; i < hi_byte; i++)
                            if ((now.be[i >> 3] >> (i & 7)) & 1) dst[i] = now.data[i];
                    if (write_responses) {
                        size_t slot = (resp_head + resp_count) % resp_due.size();
                        if (resp_count == resp_due.size())
                            throw SimError("assert", "harness: too many responses in flight");
                        resp_due[slot] = c + latency;
                        for (int i = 0; i < NBYTES; i++) resp_data[slot * NBYTES + i] = (uint8_t)~now.data[i];
                        resp_count++;
                    }
                }
            } else {
                refused++;
                waiting = true;
                wait_req = now;
            }
        }
        cycle = c + 1;
        t->TCDM(gnt) = draw >= p_refuse;
        if (resp_count && resp_due[resp_head] == cycle) {
            t->TCDM(r_valid) = 1;
            put_bytes(t->TCDM(r_data), &resp_data[resp_head * NBYTES], NBYTES);
            resp_head = (resp_head + 1) % resp_due.size();
            resp_count--;
        } else {
            t->TCDM(r_valid) = 0;
            if (!hold_r_data) drive_garbage();
        }
        return pgnt;
    }

    // PeriphDriver.access
    uint32_t access(uint32_t off, bool write, uint32_t data, uint32_t be) {
        id = (uint8_t)(id + 1);
        top->PERIPH(req) = 1;
        top->PERIPH(add) = off;
        top->PERIPH(wen) = write ? 0 : 1;
        top->PERIPH(data) = data;
        top->PERIPH(be) = be;
        top->PERIPH(id) = id;
        while (!tick()) {
        }
        last_accept = (int64_t)cycle - 1;
        top->PERIPH(req) = 0;
        if (!top->PERIPH(r_valid)) {
            char buf[80];
            std::snprintf(buf, sizeof buf, "no r_valid one cycle after the request to 0x%02X", off);
            throw SimError("assert", buf);
        }
        if (top->PERIPH(r_id) != id)
            throw SimError("assert", "r_id " + std::to_string(top->PERIPH(r_id)) +
                                         " != id " + std::to_string(id));
        return top->PERIPH(r_data);
    }

    void dump(const char* path) {
        FILE* f = std::fopen(path, "wb");
        if (!f) throw SimError("usage", std::string("cannot write ") + path);
        uint64_t head[9] = {cycle, reads, writes, refused, busy_cycles, log.size(), req_rises.size(),
                            (uint64_t)BE_BYTES, (uint64_t)sizeof(LogEntry)};
        std::fwrite(head, sizeof head, 1, f);
        if (!log.empty()) std::fwrite(log.data(), sizeof(LogEntry), log.size(), f);
        if (!req_rises.empty()) std::fwrite(req_rises.data(), 8, req_rises.size(), f);
        std::fclose(f);
    }
};

static std::vector<uint32_t> parse_key(const std::string& s) {
    std::vector<uint32_t> key;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) key.push_back((uint32_t)std::stoul(item, nullptr, 0));
    if (key.empty()) key.push_back(0);
    return key;
}

int main(int argc, char** argv) {
    Verilated::commandArgs(1, argv);
    if (argc != 9 && argc != 12) {
        std::fprintf(stderr,
                     "usage: %s MEMFILE BASE SIZE LATENCY P_REFUSE GNT_KEY GARBAGE_KEY WRITE_RESPONSES "
                     "[TRACE_FILE START STOP]\n",
                     argv[0]);
        return 2;
    }
    const int64_t base = std::strtoll(argv[2], nullptr, 0);
    const int64_t size = std::strtoll(argv[3], nullptr, 0);
    const int latency = std::atoi(argv[4]);
    const double p_refuse = std::strtod(argv[5], nullptr);
    int fd = open(argv[1], O_RDWR);
    if (fd < 0) { std::perror(argv[1]); return 2; }
    void* map = mmap(nullptr, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) { std::perror("mmap"); return 2; }
    close(fd);

#if !REDMULE_TRACE
    if (argc == 12) {
        std::fprintf(stderr, "%s: this harness was built without tracing\n", argv[0]);
        return 2;
    }
#endif
    Harness h((uint8_t*)map, base, size, latency, p_refuse, parse_key(argv[6]), parse_key(argv[7]));
    h.write_responses = std::atoi(argv[8]) != 0;
#if REDMULE_TRACE
    if (argc == 12) {
        const long long stop = std::strtoll(argv[11], nullptr, 0);
        try {
            h.open_trace(argv[9], std::strtoull(argv[10], nullptr, 0), stop < 0 ? UINT64_MAX : (uint64_t)stop);
        } catch (const SimError& e) {
            std::fprintf(stderr, "%s\n", e.what());
            return 2;
        }
    }
#endif
    std::ios::sync_with_stdio(false);
    std::string line;
    while (std::getline(std::cin, line)) {
        std::istringstream in(line);
        std::string cmd;
        in >> cmd;
        std::ostringstream out;
        try {
            uint64_t value = 0;
            if (cmd == "access") {
                uint32_t off, write, data, be;
                in >> off >> write >> data >> be;
                value = h.access(off, write != 0, data, be);
            } else if (cmd == "idle") {
                uint64_t n;
                in >> n;
                for (uint64_t i = 0; i < n; i++) h.tick();
            } else if (cmd == "acquire") {
                uint64_t max_polls;
                in >> max_polls;
                bool got = false;
                for (uint64_t i = 0; i < max_polls; i++) {
                    value = h.access(REDMULE_ACQUIRE, false, 0, 0xF);
                    if (value != REDMULE_ACQUIRE_NONE) { got = true; break; }
                }
                if (!got)
                    throw SimError("timeout", "ACQUIRE returned -1 for " + std::to_string(max_polls) +
                                                  " polls");
            } else if (cmd == "wait") {
                uint64_t count, timeout;
                in >> count >> timeout;
                size_t target = h.evt_cycles.size() + count;
                uint64_t start = h.cycle;
                while (h.evt_cycles.size() < target) {
                    if (h.cycle - start > timeout)
                        throw SimError("timeout", "no evt within " + std::to_string(timeout) + " cycles");
                    h.tick();
                }
                value = h.evt_cycles[target - 1];
            } else if (cmd == "quiet") {
                // Tick until busy is low (it is a registered output: no input settles it).
                uint64_t timeout;
                in >> timeout;
                uint64_t start = h.cycle;
                h.top->eval();
                while (h.top->busy) {
                    if (h.cycle - start > timeout)
                        throw SimError("timeout", "busy still high after " + std::to_string(timeout) +
                                                      " cycles");
                    h.tick();
                    h.top->eval();
                }
                value = h.cycle;
            } else if (cmd == "stab") {
                int v;
                in >> v;
                h.check_stability = v != 0;
            } else if (cmd == "hold") {
                int v;
                in >> v;
                h.hold_r_data = v != 0;
            } else if (cmd == "dump") {
                std::string path;
                in >> path;
                h.dump(path.c_str());
            } else if (cmd == "rng") {
                std::string key;
                uint64_t n;
                in >> key >> n;
                PyRandom r(parse_key(key));
                out << "ok";
                char buf[40];
                for (uint64_t i = 0; i < n; i++) {
                    std::snprintf(buf, sizeof buf, " %a", r.random());
                    out << buf;
                }
                std::cout << out.str() << '\n' << std::flush;
                continue;
            } else if (cmd == "info") {
                std::cout << "ok " << (h.fast_edge ? 1 : 0) << ' ' << PORT_BITS << '\n' << std::flush;
                continue;
            } else if (cmd == "counts") {
                std::cout << "ok " << h.cycle << ' ' << h.reads << ' ' << h.writes << ' ' << h.refused
                          << ' ' << h.busy_cycles << '\n' << std::flush;
                continue;
            } else if (cmd == "forget") {
                value = h.log.size();
                std::vector<LogEntry>().swap(h.log);
                std::vector<uint64_t>().swap(h.req_rises);
            } else if (cmd == "quit") {
                h.close_trace();
                std::cout << "ok 0\n" << std::flush;
                break;
            } else {
                throw SimError("usage", "unknown command " + cmd);
            }
            out << "ok " << value << ' ' << h.cycle << ' ' << h.last_accept;
            for (; h.evt_reported < h.evt_cycles.size(); h.evt_reported++)
                out << ' ' << h.evt_cycles[h.evt_reported];
        } catch (const SimError& e) {
            out.str("");
            out << "err " << e.kind << ' ' << e.what();
        }
        std::cout << out.str() << '\n' << std::flush;
    }
    munmap(map, (size_t)size);
    return 0;
}
