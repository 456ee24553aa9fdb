/* A command-line host for a model exported by 'cwfast export': plain C99, no dependency.
 *
 *   cwfast export -m fx.npz -o . --name fx
 *   cc -std=c99 -O3 -DMODEL=fx -DHEADER='"fx.h"' -I. host.c fx.c -lm -o fx-host
 *   ./fx-host < dry.f32 > wet.f32      effect: raw mono float32 in, the same out
 *   ./fx-host 48000 > out.f32          a generator (memorize or autoregressive): 48000 samples
 *   ./fx-host 48000 7 0.8 > out.f32    ... autoregressive with seed 7 at temperature 0.8
 *   ./fx-host > out.f32                a memorize model: its clip's length (NAME_LENGTH)
 *   ./fx-host < in.f32 > out.f32       an autoregressive model without a count: teacher forcing,
 *                                      its inputs (what NAME_read makes of each sample) in, its
 *                                      N_OUT outputs (the next sample's distribution) out per step
 *
 * It runs the model in blocks of 64 samples, as an audio callback would; exit status 1 if it
 * cannot read its input or write its output (a full disk), 2 with a usage line if the count of
 * samples is not a whole number, or is missing for a memorize model that does not know its
 * length. */
#include <stdio.h>
#include <stdlib.h>
#include HEADER

#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define F(x) CAT(MODEL, x)
#define BLOCK 64

static int usage(const char *name)
{
    fprintf(stderr, "usage: %s [SAMPLES [SEED [TEMPERATURE]]] > out.f32  (a generator: SAMPLES to write; "
                    "an effect, or a model scoring its inputs: raw float32 on stdin)\n", name);
    return 2;
}

int main(int argc, char **argv)
{
    static F(state) state;  /* complete type: no allocation needed */
    /* static, as the state: at 65,536 classes a block of outputs is 16 MiB, twice a usual stack */
    static float in[BLOCK * (F(N_IN) > 0 ? F(N_IN) : 1)], out[BLOCK * F(N_OUT)];
    long left = 0;
    int generating = F(N_IN) == 0 || (F(AUTOREGRESSIVE) && argc > 1);
    char *end;
    size_t n;
    int i;

    if (argc > 1) {  /* a whole number of samples, not atol's 0 for "abc" */
        left = strtol(argv[1], &end, 10);
        if (end == argv[1] || *end != '\0' || left < 0)
            return usage(argv[0]);
    }
#if F(N_IN) == 0
    if (argc < 2)
        left = F(LENGTH);  /* the memorized clip, as 'cwfast generate' plays it; 0 if unknown */
    if (argc < 2 && left == 0)
        return usage(argv[0]);
#endif

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
