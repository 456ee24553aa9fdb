/* A minimal LV2 host for cwfast's tests: loads a plug-in's .so, runs it like a host would.
 *   lv2_host SO RATE N BLOCK IN OUT [CONTROL [SEED [SEED2]]]
 * Port 0 is the audio output; port 1 the audio input (IN, raw float32; "-" for a generator) or
 * the control port (CONTROL); port 2, if the plug-in has one, a second control (SEED, default 0),
 * set to SEED2 from the first block that starts at or after N / 2, as a host's automation would.
 * Exit status 3 if the plug-in refuses to instantiate. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lv2/core/lv2.h>

int main(int argc, char **argv)
{
    const LV2_Feature *features[] = {NULL};
    const LV2_Descriptor *(*entry)(uint32_t);
    const LV2_Descriptor *d;
    LV2_Handle h;
    void *lib;
    long n, block, i;
    float *in = NULL, *out, control = 0.0f, seed = 0.0f, seed2 = 0.0f;
    int switched = 0;
    FILE *f;
    if (argc < 7)
        return 2;
    lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) {
        fprintf(stderr, "%s\n", dlerror());
        return 2;
    }
    *(void **)(&entry) = dlsym(lib, "lv2_descriptor");
    d = entry(0);
    n = atol(argv[3]);
    block = atol(argv[4]);
    out = calloc((size_t)n, sizeof(float));
    if (strcmp(argv[5], "-") != 0) {
        in = calloc((size_t)n, sizeof(float));
        f = fopen(argv[5], "rb");
        if (!f || fread(in, sizeof(float), (size_t)n, f) != (size_t)n)
            return 2;
        fclose(f);
    }
    if (argc > 7)
        control = (float)atof(argv[7]);
    if (argc > 8)
        seed = (float)atof(argv[8]);
    if (argc > 9) {
        seed2 = (float)atof(argv[9]);
        switched = 1;
    }
    h = d->instantiate(d, atof(argv[2]), ".", features);
    if (!h) {
        free(in);
        free(out);
        return 3;
    }
    d->connect_port(h, 1, in ? (void *)in : (void *)&control);
    d->connect_port(h, 2, &seed);  /* a plug-in without a port 2 ignores it */
    d->activate(h);
    for (i = 0; i < n; i += block) {
        long m = n - i < block ? n - i : block;
        if (switched && i >= n / 2)
            seed = seed2;
        d->connect_port(h, 0, out + i);
        if (in)
            d->connect_port(h, 1, in + i);
        d->run(h, (uint32_t)m);
    }
    d->deactivate ? d->deactivate(h) : (void)0;
    d->cleanup(h);
    f = fopen(argv[6], "wb");
    if (!f || fwrite(out, sizeof(float), (size_t)n, f) != (size_t)n)
        return 2;
    fclose(f);
    free(in);
    free(out);
    return 0;
}
