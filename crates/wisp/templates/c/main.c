/* {{name}}: a function in C, a WASI command built by `wisp build` with clang
 * and wasi-libc. It answers both kinds of call wisp makes; every call runs in
 * a fresh instance.
 *
 * - Web calls (/fn/{{name}}/...) follow CGI: the request in the environment
 *   (REQUEST_METHOD, PATH_INFO, QUERY_STRING, ...) and the body on stdin; CGI
 *   headers, a blank line and the body on stdout.
 * - API calls (wisp invoke {{name}} --param name=edge) give the parameters as
 *   a JSON object on stdin; the result is the last line of stdout, a JSON
 *   object. Earlier lines and stderr are the activation's logs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies the string value of "key" in a flat JSON object into out (escapes
 * and nesting are beyond this sketch: use a JSON library for real input). */
static int json_string(const char *json, const char *key, char *out, size_t size) {
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    const char *at = strstr(json, quoted);
    if (!at) return 0;
    at = strchr(at + strlen(quoted), ':');
    if (!at) return 0;
    at = strchr(at, '"');
    if (!at) return 0;
    const char *end = strchr(at + 1, '"');
    if (!end || (size_t)(end - at - 1) >= size) return 0;
    memcpy(out, at + 1, end - at - 1);
    out[end - at - 1] = '\0';
    return 1;
}

int main(void) {
    static char input[64 * 1024];
    size_t n = fread(input, 1, sizeof input - 1, stdin);
    input[n] = '\0';

    const char *method = getenv("REQUEST_METHOD");
    if (method) {
        const char *path = getenv("PATH_INFO");
        const char *query = getenv("QUERY_STRING");
        printf("Content-Type: text/plain; charset=utf-8\r\n\r\n");
        printf("Hello from {{name}}! You asked for %s %s%s%s\n", method, path ? path : "/",
               query && *query ? "?" : "", query ? query : "");
        return 0;
    }
    char name[256] = "world";
    json_string(input, "name", name, sizeof name);
    fprintf(stderr, "greeting %s\n", name);
    printf("{\"greeting\": \"Hello, %s!\"}\n", name);
    return 0;
}
