// A JSON action in C++, built with Emscripten -sSTANDALONE_WASM (the paper's
// toolchain): counts the primes below "n" (default 10000) with a sieve.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

static long param_n(const std::string& in) {
    auto k = in.find("\"n\"");
    if (k == std::string::npos) return 10000;
    auto colon = in.find(':', k);
    if (colon == std::string::npos) return 10000;
    return std::strtol(in.c_str() + colon + 1, nullptr, 10);
}

int main() {
    std::string input;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) input.append(buf, n);
    long limit = param_n(input);
    if (limit < 2 || limit > 50000000) {
        std::printf("{\"error\": \"n must be between 2 and 50000000\"}\n");
        return 0;
    }
    std::vector<bool> composite(limit, false);
    long count = 0;
    for (long i = 2; i < limit; i++) {
        if (composite[i]) continue;
        count++;
        for (long long j = (long long)i * i; j < limit; j += i) composite[j] = true;
    }
    std::printf("{\"n\": %ld, \"primes\": %ld, \"language\": \"c++\"}\n", limit, count);
    return 0;
}
