/*
 * version.c - the --version text every tool prints: its version, the
 * libraries it was linked against, the features compiled in.
 */
#include <archive.h>
#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include "fs.h"

void fs_print_version(const char *extra)
{
	printf("%s (finstream) %s\n", fs_progname, FS_VERSION_STRING);
	printf("libraries: %s, librdkafka %s, sqlite %s, cJSON %s, %s\n",
	       archive_version_string(), rd_kafka_version_str(),
	       sqlite3_libversion(), cJSON_Version(),
	       OpenSSL_version(OPENSSL_VERSION));
#ifdef FS_HAVE_CUDA
	printf("features: cuda\n");
#else
	printf("features: cpu-only (built without CUDA)\n");
#endif
	if (extra)
		printf("%s\n", extra);
}
