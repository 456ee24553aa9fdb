/* Test driver of cwfast's C export: runs an exported model over raw float32 files.
 * Built with -DHEADER='"NAME.h"' -DNAME=NAME.
 *   driver process IN OUT N BLOCK      N steps of IN (n x N_IN floats; IN ignored without inputs)
 *   driver twin IN OUT N BLOCK         the same with two states interleaved block by block, the
 *                                      second fed the input negated (OUT holds both: first, second)
 *   driver generate OUT N BLOCK SEED TEMPERATURE
 *   driver prime CLIP M OUT N BLOCK SEED TEMPERATURE
 *                                      N_prime with the M floats of CLIP, then generate as above
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include HEADER

#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define F(x) CAT(NAME, x)

static float *read_floats(const char *path, long count)
{
    float *data = calloc((size_t)(count > 0 ? count : 1), sizeof(float));
    FILE *f = fopen(path, "rb");
    if (!data || !f || fread(data, sizeof(float), (size_t)count, f) != (size_t)count) {
        fprintf(stderr, "cannot read %ld floats from %s\n", count, path);
        exit(1);
    }
    fclose(f);
    return data;
}

static void write_floats(const char *path, const float *data, long count)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, sizeof(float), (size_t)count, f) != (size_t)count) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

int main(int argc, char **argv)
{
    static F(state) s, s2;
    long n, i, block;
    float *in = NULL, *out, *neg = NULL;
    if (argc < 5) {
        fprintf(stderr, "usage: see the comment at the top\n");
        return 2;
    }
    if (F(state_size)() != sizeof(F(state))) return 3;
    F(reset)(&s);
    F(reset)(&s2);
    if (strcmp(argv[1], "generate") == 0 || strcmp(argv[1], "prime") == 0) {
#if CAT(NAME, AUTOREGRESSIVE)
        if (strcmp(argv[1], "prime") == 0) {
            long m = atol(argv[3]);
            float *clip = read_floats(argv[2], m);
            F(prime)(&s, clip, (int)m);
            free(clip);
            argv += 2;
        }
        n = atol(argv[3]);
        block = atol(argv[4]);
        out = malloc((size_t)n * sizeof(float));
        F(seed)(&s, strtoull(argv[5], NULL, 10));
        F(set_temperature)(&s, strtod(argv[6], NULL));
        for (i = 0; i < n; i += block)
            F(generate)(&s, out + i, (int)(n - i < block ? n - i : block));
        write_floats(argv[2], out, n);
        free(out);
        return 0;
#else
        return 4;
#endif
    }
    n = atol(argv[4]);
    block = atol(argv[5]);
    if (CAT(NAME, N_IN) > 0) {
        in = read_floats(argv[2], n * CAT(NAME, N_IN));
        neg = malloc((size_t)(n * CAT(NAME, N_IN)) * sizeof(float));
        for (i = 0; i < n * CAT(NAME, N_IN); i++)
            neg[i] = -in[i];
    }
    out = malloc((size_t)(2 * n * CAT(NAME, N_OUT)) * sizeof(float));
    for (i = 0; i < n; i += block) {
        int m = (int)(n - i < block ? n - i : block);
        F(process)(&s, in ? in + i * CAT(NAME, N_IN) : NULL, out + i * CAT(NAME, N_OUT), m);
        if (strcmp(argv[1], "twin") == 0)
            F(process)(&s2, neg ? neg + i * CAT(NAME, N_IN) : NULL, out + (n + i) * CAT(NAME, N_OUT), m);
    }
    write_floats(argv[3], out, (strcmp(argv[1], "twin") == 0 ? 2 : 1) * n * CAT(NAME, N_OUT));
    free(in);
    free(neg);
    free(out);
    return 0;
}
