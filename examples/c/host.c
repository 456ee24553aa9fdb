/* A command-line host for a model exported by 'cwfast export': plain C99, no dependency.
 *
 *   cwfast export -m fx.npz -o . --name fx
 *   cc -std=c99 -O3 -DMODEL=fx -DHEADER='"fx.h"' -I. host.c fx.c -lm -o fx-host
 *   ./fx-host < dry.f32 > wet.f32      effect: raw mono float32 in, the same out
 *   ./fx-host 48000 > out.f32          a generator (memorize or autoregressive): 48000 samples
 *   ./fx-host 48000 7 0.8 > out.f32    ... autoregressive with seed 7 at temperature 0.8
 *
 * It runs the model in blocks of 64 samples, as an audio callback would; exit status 1 if it
 * cannot read its input or write its output (a full disk). */
#include <stdio.h>
#include <stdlib.h>
#include HEADER

#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define F(x) CAT(MODEL, x)
#define BLOCK 64

int main(int argc, char **argv)
{
    static F(state) state;  /* complete type: no allocation needed */
    /* static, as the state: at 65,536 classes a block of outputs is 16 MiB, twice a usual stack */
    static float in[BLOCK * (F(N_IN) > 0 ? F(N_IN) : 1)], out[BLOCK * F(N_OUT)];
    long left = argc > 1 ? atol(argv[1]) : 0;
    int generating = F(N_IN) == 0 || (F(AUTOREGRESSIVE) && argc > 1);
    size_t n;
    int i;

    F(reset)(&state);
#if F(AUTOREGRESSIVE)
    if (argc > 2)
        F(seed)(&state, strtoull(argv[2], NULL, 10));
    if (argc > 3)
        F(set_temperature)(&state, atof(argv[3]));
#endif
    for (;;) {
        if (generating) {  /* as many steps as asked for */
            n = left > BLOCK ? BLOCK : (size_t)(left > 0 ? left : 0);
            left -= (long)n;
        } else {           /* as many steps as whole frames arrive on stdin */
            n = fread(in, sizeof(float) * F(N_IN), BLOCK, stdin);
        }
        if (n == 0)
            break;
#if F(AUTOREGRESSIVE)
        if (generating) {
            F(generate)(&state, out, (int)n);
            if (fwrite(out, sizeof(float), n, stdout) != n)
                break;
            continue;
        }
#endif
        F(process)(&state, F(N_IN) > 0 ? in : NULL, out, (int)n);
        for (i = 0; F(N_IN) == 0 && i < (int)n * F(N_OUT); i++)  /* memorize: the training level */
            out[i] = (float)(out[i] * F(SCALE));
        if (fwrite(out, sizeof(float) * F(N_OUT), n, stdout) != n)
            break;
    }
    /* A full disk or a failed read is an error, not exit status 0 with the output cut short. */
    if (ferror(stdin) || fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "%s: cannot %s\n", argv[0], ferror(stdin) ? "read stdin" : "write stdout");
        return 1;
    }
    return 0;
}
