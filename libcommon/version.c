/*
 * version.c - the --version text every tool prints: its version, the
 * libraries it is linked against, the features compiled in.
 *
 * The library version functions are weak references: a tool that does
 * not use a library is not linked against it (the Makefile links with
 * --as-needed, which weak references do not defeat), starts faster, and
 * does not list it.
 */
#include <archive.h>
#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include "fs.h"

#pragma weak archive_version_string
#pragma weak rd_kafka_version_str
#pragma weak sqlite3_libversion
#pragma weak cJSON_Version
#pragma weak OpenSSL_version
/* The CUDA runtime, linked only into tools with a CUDA path. */
extern int cudaRuntimeGetVersion(int *version) __attribute__((weak));

void fs_print_version(const char *extra)
{
	int cuda = 0;

	printf("%s (finstream) %s\n", fs_progname, FS_VERSION_STRING);
	printf("libraries: libc");
	if (archive_version_string)
		printf(", %s", archive_version_string());
	if (cJSON_Version)
		printf(", cJSON %s", cJSON_Version());
	if (rd_kafka_version_str)
		printf(", librdkafka %s", rd_kafka_version_str());
	if (sqlite3_libversion)
		printf(", sqlite %s", sqlite3_libversion());
	if (OpenSSL_version)
		printf(", %s", OpenSSL_version(OPENSSL_VERSION));
	printf("\n");
	if (cudaRuntimeGetVersion && cudaRuntimeGetVersion(&cuda) == 0)
		printf("features: cuda (CUDA runtime %d.%d)\n", cuda / 1000,
		       cuda % 1000 / 10);
#ifdef FS_HAVE_CUDA
	else
		printf("features: cpu (this tool has no CUDA path)\n");
#else
	else
		printf("features: cpu-only (built without CUDA)\n");
#endif
	if (extra)
		printf("%s\n", extra);
}
