/*
 * Decode benchmark: how fast remsess turns WS-Enumeration responses into
 * typed instances, compared with a bare libxml2 parse of the same bytes in
 * the same run (so the machine's speed cancels out of the ratio).
 *
 * The input is a PullResponse envelope of about 500 KB (Windows' default
 * MaxEnvelopeSize), shaped as Windows shapes Win32_Service items, decoded
 * again and again until at least --mb megabytes have gone through: the
 * client's real workload, one bounded envelope at a time.
 *
 *   bench/decode [--mb N] [--envelope-kb N]
 *
 * Prints one line per measurement and a ratio; docs/performance.md records
 * a run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/xmlreader.h>

#include "util.h"
#include "wscim.h"
#include "xml.h"

#define NS_CLASS "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service"

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static long peak_rss_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* One Win32_Service item as Windows writes it (EnumerateObjectAndEPR off). */
static void add_item(rms_buf *b, unsigned i)
{
	rms__buf_printf(
		b,
		"<p:Win32_Service xmlns:p=\"" NS_CLASS "\" xmlns:cim=\"%s\" "
		"xsi:type=\"p:Win32_Service_Type\" xml:lang=\"en-US\">"
		"<p:AcceptPause>false</p:AcceptPause><p:AcceptStop>true</p:AcceptStop>"
		"<p:Caption>Service number %u</p:Caption><p:CheckPoint>0</p:CheckPoint>"
		"<p:CreationClassName>Win32_Service</p:CreationClassName>"
		"<p:DelayedAutoStart>false</p:DelayedAutoStart>"
		"<p:Description>Provides a service that benchmarks the decoder &amp; its "
		"callers.</p:Description><p:DesktopInteract>false</p:DesktopInteract>"
		"<p:DisplayName>Service %u</p:DisplayName><p:ErrorControl>Normal</p:ErrorControl>"
		"<p:ExitCode>0</p:ExitCode><p:InstallDate xsi:nil=\"true\"/>"
		"<p:Name>svc%u</p:Name>"
		"<p:PathName>C:\\Windows\\system32\\svchost.exe -k netsvcs -p</p:PathName>"
		"<p:ProcessId>%u</p:ProcessId><p:ServiceSpecificExitCode>0</p:ServiceSpecificExitCode>"
		"<p:ServiceType>Share Process</p:ServiceType><p:Started>true</p:Started>"
		"<p:StartMode>Auto</p:StartMode><p:StartName>LocalSystem</p:StartName>"
		"<p:State>Running</p:State><p:Status>OK</p:Status>"
		"<p:SystemCreationClassName>Win32_ComputerSystem</p:SystemCreationClassName>"
		"<p:SystemName>BENCH01</p:SystemName><p:TagId>0</p:TagId>"
		"<p:WaitHint>0</p:WaitHint></p:Win32_Service>",
		RMS_NS_CIM, i, i, i, 1000 + i);
}

static char *make_envelope(size_t target, size_t *len, unsigned *items)
{
	rms_buf b;
	rms__buf_init(&b);
	rms__buf_puts(&b,
	              "<s:Envelope xmlns:s=\"" RMS_NS_SOAP "\" xmlns:a=\"" RMS_NS_ADDRESSING
	              "\" xmlns:n=\"" RMS_NS_ENUMERATION "\" xmlns:w=\"" RMS_NS_WSMAN_DMTF
	              "\" xmlns:xsi=\"" RMS_NS_XSI_URI "\" xml:lang=\"en-US\"><s:Header>"
	              "<a:Action>http://schemas.xmlsoap.org/ws/2004/09/enumeration/PullResponse"
	              "</a:Action><a:MessageID>uuid:5B1A2C3D-0000-4000-8000-000000000001"
	              "</a:MessageID><a:To>" RMS_WSA_ANONYMOUS "</a:To><a:RelatesTo>"
	              "uuid:5B1A2C3D-0000-4000-8000-000000000000</a:RelatesTo></s:Header>"
	              "<s:Body><n:PullResponse><n:EnumerationContext>uuid:ctx"
	              "</n:EnumerationContext><n:Items>");
	unsigned n = 0;
	while (b.len + 2000 < target)
		add_item(&b, n++);
	rms__buf_puts(&b, "</n:Items></n:PullResponse></s:Body></s:Envelope>");
	*items = n;
	*len = b.len;
	return rms__buf_take(&b);
}

/* The library's path: stream the envelope, decode each item into an
 * instance, free it. Returns the number of instances. */
static unsigned decode_remsess(const char *buf, size_t len)
{
	rms_soap_reader *r;
	rms_xml_limits lim = { 0 };
	if (rms__soap_reader_open(&r, buf, len, &lim, "benchmark envelope") ||
	    rms__soap_reader_enter(r, RMS_NS_ENUMERATION, "PullResponse")) {
		fprintf(stderr, "decode failed: %s\n", rms_error_message(rms_error_last()));
		exit(1);
	}
	unsigned n = 0;
	const char *ns, *local;
	while (rms__soap_reader_peek(r, &ns, &local) == 0) {
		if (strcmp(local, "Items") != 0) {
			xmlNode *skip;
			rms__soap_reader_next(r, &skip);
			continue;
		}
		rms__soap_reader_enter(r, RMS_NS_ENUMERATION, "Items");
		xmlNode *item;
		while (rms__soap_reader_next(r, &item) == 0) {
			rms_instance *inst;
			if (rms__wscim_read_instance(&inst, item, "root/cimv2", NULL, NULL)) {
				fprintf(stderr, "item failed: %s\n",
				        rms_error_message(rms_error_last()));
				exit(1);
			}
			rms_instance_free(inst);
			n++;
		}
	}
	rms__soap_reader_free(r);
	return n;
}

/* The floor: libxml2's reader walking every node of the same bytes with the
 * same safe options, building nothing. */
static unsigned parse_bare(const char *buf, size_t len)
{
	xmlTextReaderPtr r = xmlReaderForMemory(buf, (int)len, NULL, NULL, XML_PARSE_NONET);
	unsigned nodes = 0;
	while (xmlTextReaderRead(r) == 1)
		nodes++;
	xmlFreeTextReader(r);
	return nodes;
}

int main(int argc, char **argv)
{
	double mb = 200;
	size_t env_kb = 500;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--mb") == 0)
			mb = atof(argv[i + 1]);
		else if (strcmp(argv[i], "--envelope-kb") == 0)
			env_kb = (size_t)atol(argv[i + 1]);
	}
	size_t len;
	unsigned per_env;
	char *env = make_envelope(env_kb * 1024, &len, &per_env);
	unsigned rounds = (unsigned)(mb * 1024 * 1024 / (double)len) + 1;
	printf("envelope: %zu bytes, %u instances; %u envelopes = %.1f MB\n", len, per_env,
	       rounds, (double)len * rounds / 1048576.0);

	/* Warm up both paths once (page in code, settle the allocator). */
	decode_remsess(env, len);
	parse_bare(env, len);

	double t0 = cpu_seconds();
	for (unsigned i = 0; i < rounds; i++)
		parse_bare(env, len);
	double bare = cpu_seconds() - t0;

	t0 = cpu_seconds();
	unsigned long total = 0;
	for (unsigned i = 0; i < rounds; i++)
		total += decode_remsess(env, len);
	double ours = cpu_seconds() - t0;

	printf("bare libxml2 reader : %.3f s CPU, %.1f MB/s\n", bare,
	       (double)len * rounds / 1048576.0 / bare);
	printf("remsess decode      : %.3f s CPU, %.1f MB/s, %.0f instances/s, %.2f us/instance\n",
	       ours, (double)len * rounds / 1048576.0 / ours, (double)total / ours,
	       ours / (double)total * 1e6);
	printf("ratio remsess/bare  : %.2f\n", ours / bare);
	printf("peak RSS            : %ld KB\n", peak_rss_kb());
	free(env);
	return 0;
}
