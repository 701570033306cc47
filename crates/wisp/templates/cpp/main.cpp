// {{name}}: a function in C++, a WASI command built by `wisp build` with
// Emscripten (-sSTANDALONE_WASM: no JavaScript glue). It answers both kinds of
// call wisp makes; every call runs in a fresh instance.
//
// - Web calls (/fn/{{name}}/...) follow CGI: the request in the environment
//   (REQUEST_METHOD, PATH_INFO, QUERY_STRING, ...) and the body on stdin; CGI
//   headers, a blank line and the body on stdout.
// - API calls (wisp invoke {{name}} --param name=edge) give the parameters as
//   a JSON object on stdin; the result is the last line of stdout, a JSON
//   object. Earlier lines and stderr are the activation's logs.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>

// The string value of "key" in a flat JSON object (escapes and nesting are
// beyond this sketch: use a JSON library for real input).
static std::string json_string(const std::string& json, const std::string& key,
                               const std::string& otherwise) {
    auto at = json.find("\"" + key + "\"");
    if (at == std::string::npos) return otherwise;
    at = json.find(':', at + key.size() + 2);
    if (at == std::string::npos) return otherwise;
    auto open = json.find('"', at);
    if (open == std::string::npos) return otherwise;
    auto close = json.find('"', open + 1);
    if (close == std::string::npos) return otherwise;
    return json.substr(open + 1, close - open - 1);
}

static std::string env(const char* name) {
    const char* value = std::getenv(name);
    return value ? value : "";
}

int main() {
    std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    if (std::getenv("REQUEST_METHOD")) {
        std::string path = env("PATH_INFO"), query = env("QUERY_STRING");
        std::printf("Content-Type: text/plain; charset=utf-8\r\n\r\n");
        std::printf("Hello from {{name}}! You asked for %s %s%s%s\n", env("REQUEST_METHOD").c_str(),
                    path.empty() ? "/" : path.c_str(), query.empty() ? "" : "?", query.c_str());
        return 0;
    }
    std::string name = json_string(input, "name", "world");
    std::fprintf(stderr, "greeting %s\n", name.c_str());
    std::printf("{\"greeting\": \"Hello, %s!\"}\n", name.c_str());
    return 0;
}
