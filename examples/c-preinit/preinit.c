/*
 * A JSON action pre-initialized at deploy. wisp runs `wizer-initialize` once,
 * when the action is deployed, and snapshots the instance it leaves: every
 * call then starts with the table already built and the counter at 41.
 *
 * Each call adds one to the counter and answers it. A fresh instance per call
 * means every call answers 42: state comes from the snapshot, never from an
 * earlier call. Deployed with the annotation `init: false` (no init), it
 * answers 1 and builds nothing.
 *
 * Build: clang --target=wasm32-wasi -O2 -o preinit.wasm preinit.c
 */
#include <stdio.h>
#include <stdlib.h>

static int counter;
static unsigned *squares;

__attribute__((export_name("wizer-initialize")))
void initialize(void) {
    squares = malloc(4096 * sizeof *squares);
    for (unsigned i = 0; i < 4096; i++) {
        squares[i] = i * i;
    }
    counter = 41;
}

int main(void) {
    counter++;
    printf("{\"counter\":%d,\"preinitialized\":%s,\"square_of_12\":%u}\n", counter,
           squares ? "true" : "false", squares ? squares[12] : 0);
    return 0;
}
