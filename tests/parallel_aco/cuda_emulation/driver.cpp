// Runs one kernel of air_select.cu (text-adapted to emu.hpp by the test) on binary inputs:
//   driver <air|roulette> <n> <m> <seed> <round_base> <use_explicit> <dir>
// reads <dir>/weights.bin (float32 P or int64 Q), D.bin (int32), explicit.bin (if used),
// writes <dir>/tours.bin (int32 m x n) and lengths.bin (int64 m).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>
#include "emu.hpp"
#include "kernel.inc"

template <class T> std::vector<T> load(const std::string &path, size_t count) {
    std::vector<T> out(count);
    FILE *f = std::fopen(path.c_str(), "rb");
    if (!f || std::fread(out.data(), sizeof(T), count, f) != count) { std::perror(path.c_str()); std::exit(2); }
    std::fclose(f);
    return out;
}

template <class T> void save(const std::string &path, const std::vector<T> &v) {
    FILE *f = std::fopen(path.c_str(), "wb");
    std::fwrite(v.data(), sizeof(T), v.size(), f);
    std::fclose(f);
}

int main(int argc, char **argv) {
    if (argc != 8) return 2;
    const std::string rule = argv[1], dir = argv[7];
    const int n = std::atoi(argv[2]), m = std::atoi(argv[3]);
    const unsigned seed = (unsigned)std::strtoul(argv[4], nullptr, 10);
    const unsigned long long base = std::strtoull(argv[5], nullptr, 10);
    const int use = std::atoi(argv[6]);
    auto D = load<int>(dir + "/D.bin", (size_t)n * n);
    std::vector<int> tours((size_t)m * n);
    std::vector<long long> lengths(m);
    if (rule == "air") {
        auto P = load<float>(dir + "/weights.bin", (size_t)n * n);
        auto U = use ? load<float>(dir + "/explicit.bin", (size_t)(n - 1) * m * n) : std::vector<float>(1);
        emu_launch(m, ACO_THREADS, [&] {
            aco_construct_air(P.data(), D.data(), n, m, seed, base, U.data(), use, tours.data(), lengths.data());
        });
    } else {
        auto Q = load<long long>(dir + "/weights.bin", (size_t)n * n);
        auto R = use ? load<double>(dir + "/explicit.bin", (size_t)(n - 1) * m) : std::vector<double>(1);
        emu_launch(m, ACO_THREADS, [&] {
            aco_construct_roulette(Q.data(), D.data(), n, m, seed, base, R.data(), use, tours.data(), lengths.data());
        });
    }
    save(dir + "/tours.bin", tours);
    save(dir + "/lengths.bin", lengths);
    return 0;
}
