/* sim/rng.h: the simulator's random numbers (xoshiro256** seeded through splitmix64).
 *
 * Determinism is by construction, not by scheduling: every independent piece of the simulation
 * (the static-sky catalogue, the movers, one CCD's defects, one CCD-epoch's noise and cosmic rays)
 * gets its own stream, seeded from the master seed and a few integer tags with
 * sso_rng_init(&r, master, tag_a, tag_b, tag_c). So a run with 1 thread and one with 16 threads draw
 * the very same numbers for each detector-epoch, whatever order the workers take them in.
 *
 * Generators: xoshiro256** (Blackman & Vigna 2018) for the stream, splitmix64 to expand the seed
 * and tags into its 256-bit state. Distributions: uniform doubles in [0, 1) from the top 53 bits,
 * normal deviates by Box-Muller (both values of a pair are used), Poisson exact by multiplication
 * for means below 30 and by the normal approximation with continuity rounding above (standard, and
 * invisible under 4.4 e- read noise), and a Moyal deviate (the usual closed-form approximation of
 * the Landau distribution) for cosmic-ray energy deposits.
 *
 * Header-only, static inline: small, hot, and used by several simulator modules.
 */
#ifndef SSO_SIM_RNG_H
#define SSO_SIM_RNG_H

#include <math.h>
#include <stdint.h>

typedef struct sso_rng {
    uint64_t s[4];
    double spare;    /* second Box-Muller value */
    int has_spare;
} sso_rng;

static inline uint64_t sso_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Seeds a stream from the master seed and three tags (e.g. purpose, epoch, CCD index). */
static inline void sso_rng_init(sso_rng *r, uint64_t master, uint64_t tag_a, uint64_t tag_b,
                                uint64_t tag_c)
{
    uint64_t x = master;
    /* Mix each tag through splitmix64 so that nearby tags give unrelated streams. */
    uint64_t h = sso_splitmix64(&x);
    x = h ^ (tag_a * 0xD1342543DE82EF95ull);
    h = sso_splitmix64(&x);
    x = h ^ (tag_b * 0xA0761D6478BD642Full);
    h = sso_splitmix64(&x);
    x = h ^ (tag_c * 0xE7037ED1A0B428DBull);
    for (int i = 0; i < 4; i++)
        r->s[i] = sso_splitmix64(&x);
    r->has_spare = 0;
    r->spare = 0.0;
}

static inline uint64_t sso_rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t sso_rng_u64(sso_rng *r)
{
    uint64_t *s = r->s;
    const uint64_t result = sso_rng_rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = sso_rng_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1). */
static inline double sso_rng_uniform(sso_rng *r)
{
    return (double)(sso_rng_u64(r) >> 11) * 0x1.0p-53;
}

/* Uniform in (0, 1]: safe under log(). */
static inline double sso_rng_uniform_pos(sso_rng *r)
{
    return ((double)(sso_rng_u64(r) >> 11) + 1.0) * 0x1.0p-53;
}

/* Uniform integer in [0, n), n > 0 (Lemire's multiply-shift; the bias is below 2^-32 for the
 * sizes used here). */
static inline uint32_t sso_rng_below(sso_rng *r, uint32_t n)
{
    return (uint32_t)(((sso_rng_u64(r) >> 32) * (uint64_t)n) >> 32);
}

/* Standard normal deviate (Box-Muller). */
static inline double sso_rng_normal(sso_rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u1 = sso_rng_uniform_pos(r);
    double u2 = sso_rng_uniform(r);
    double rad = sqrt(-2.0 * log(u1));
    double a = 6.283185307179586 * u2;
    r->spare = rad * sin(a);
    r->has_spare = 1;
    return rad * cos(a);
}

/* Poisson deviate of mean mu >= 0: exact below 30 (Knuth's product of uniforms), normal
 * approximation rounded to an integer above. */
static inline double sso_rng_poisson(sso_rng *r, double mu)
{
    if (!(mu > 0.0))
        return 0.0;
    if (mu < 30.0) {
        double l = exp(-mu), p = 1.0;
        int k = 0;
        do {
            k++;
            p *= sso_rng_uniform(r);
        } while (p > l);
        return (double)(k - 1);
    }
    double v = floor(mu + sqrt(mu) * sso_rng_normal(r) + 0.5);
    return v < 0.0 ? 0.0 : v;
}

/* Moyal deviate (location 0, scale 1): X = -2 ln|Z| for Z standard normal has the Moyal density
 * exp(-(x + e^-x)/2)/sqrt(2 pi), a Landau-like peak with a long upper tail. */
static inline double sso_rng_moyal(sso_rng *r)
{
    double z = sso_rng_normal(r);
    double az = fabs(z);
    if (az < 1e-300)
        az = 1e-300;
    return -2.0 * log(az);
}

#endif
