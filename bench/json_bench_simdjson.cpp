// json_bench_simdjson.cpp - simdjson's parse-only figure for json_bench.c.
//
// Built with g++ for build/bench/json_bench only; tremor never links it.
// simdjson needs SIMDJSON_PADDING readable bytes after each document, so the
// padded copies are made before the clock starts. Parse only: the DOM tape
// is built and nothing is converted into values; that is the ceiling a
// decoder into tr_values can approach, not reach.
#include <simdjson.h>

#include <chrono>
#include <string>
#include <vector>

#define TR_STR2(x) #x
#define TR_STR(x) TR_STR2(x)

extern "C" {
// Best time in seconds over rounds of iters passes over the n documents;
// -1 when a document does not parse. *impl gets simdjson's version and the
// kernel it chose for this CPU.
double tr_bench_simdjson(const char *const *docs, const size_t *lens, size_t n, long iters, int rounds,
                         const char **impl);
}

double tr_bench_simdjson(const char *const *docs, const size_t *lens, size_t n, long iters, int rounds,
                         const char **impl) {
    std::vector<simdjson::padded_string> pad;
    pad.reserve(n);
    for (size_t i = 0; i < n; i++) pad.emplace_back(docs[i], lens[i]);
    simdjson::dom::parser parser;
    static std::string name;
    name = std::string(TR_STR(SIMDJSON_VERSION)) + ", " + std::string(simdjson::get_active_implementation()->name());
    *impl = name.c_str();
    double best = 1e9;
    size_t sink = 0;
    for (int r = 0; r < rounds; r++) {
        auto t0 = std::chrono::steady_clock::now();
        for (long k = 0; k < iters; k++) {
            for (size_t i = 0; i < n; i++) {
                simdjson::dom::element e;
                if (parser.parse(pad[i]).get(e)) return -1;
                sink += e.is_object();
            }
        }
        double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (t < best) best = t;
    }
    return sink ? best : -1;
}
