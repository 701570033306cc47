/* A JSON action in C (clang + wasi-libc). It counts its calls in a global: wisp
 * gives every call a fresh instance, so the count is 1 every time. */
#include <stdio.h>

static int calls = 0;

int main(void) {
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, stdin);
    buf[n] = '\0';
    calls += 1;
    printf("input was %zu bytes\n", n);
    printf("{\"calls\": %d, \"language\": \"c\"}\n", calls);
    return 0;
}
