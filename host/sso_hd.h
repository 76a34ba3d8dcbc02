/* host/sso_hd.h: the marker for per-element math shared by the CPU reference and CUDA kernels.
 *
 * Functions written once as `SSO_HD static inline` compile as __host__ __device__ under nvcc and
 * as plain static inline C elsewhere, so the CPU twin and the kernel run the very same arithmetic.
 * Keep such functions free of libc calls other than <math.h> float functions.
 */
#ifndef SSO_HD_H
#define SSO_HD_H

#ifdef __CUDACC__
#define SSO_HD __host__ __device__
#else
#define SSO_HD
#endif

#define SSO_CEIL_DIV(a, b) (((a) + (b) - 1) / (b))

#endif
