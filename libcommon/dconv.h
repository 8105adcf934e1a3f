/*
 * dconv.h - the C face of libdouble-conversion (a C++ library), wrapped
 * once in libcommon/dconv.cc.  Only libcommon's float printing uses it.
 */
#ifndef FS_DCONV_H
#define FS_DCONV_H

#ifdef __cplusplus
extern "C" {
#endif

/* Room fs_dtoa_shortest needs in digits: 17 digits and a NUL. */
#define FS_DTOA_MAX 18

/*
 * The fewest decimal digits that read back as |v| (as a float when
 * single, v then being a float's value): digits[0..n) without trailing
 * zeros, |v| ~ 0.digits * 10^*point.  Of several such, the nearest to v
 * (a tie: away from zero, says the library; to even, does 3.2.1).  v must
 * be finite.  Returns n.
 */
int fs_dtoa_shortest(double v, int single, char *digits, int *point);

#ifdef __cplusplus
}
#endif
#endif
