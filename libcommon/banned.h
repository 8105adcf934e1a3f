/*
 * banned.h - functions that have no place in finstream code.  Each is a
 * compile error; use the bounded alternative named in the message.
 */
#ifndef FS_BANNED_H
#define FS_BANNED_H

#define FS_BANNED(func) sorry_##func##_is_banned

#undef strcpy
#define strcpy(x, y) FS_BANNED(strcpy)	/* use memcpy or snprintf */
#undef strcat
#define strcat(x, y) FS_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) FS_BANNED(strncpy)
#undef sprintf
#define sprintf(...) FS_BANNED(sprintf)	/* use snprintf */
#undef vsprintf
#define vsprintf(...) FS_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) FS_BANNED(strtok)	/* use strsep or a scanner */
#undef gets
#define gets(x) FS_BANNED(gets)
#undef atoi
#define atoi(x) FS_BANNED(atoi)	/* use fs_parse_i64 */

#endif
