/*
 * test_gw_framing.c - gateway/gw_framing: which header sets may frame a
 * request body, fed as libmicrohttpd keeps them (name as sent, value
 * without its leading whitespace).
 */
#include <string.h>

#include "gw_framing.h"
#include "testlib.h"

#define BOTH "Request has both Content-Length and Transfer-Encoding."
#define CONFLICT "Request has conflicting Content-Length headers."
#define TE "Transfer-Encoding must be \"chunked\"."
#define NAME "Invalid header field name."
#define VALUE "Invalid header field value."

/* Feeds the NULL-terminated name, value pairs and checks the verdict
 * (NULL: accepted). */
static void
check(const char *what, const char *const *hv, const char *want)
{
	struct gw_framing f;
	const char *got;

	gw_framing_init(&f);
	for (size_t i = 0; hv[i] != NULL; i += 2)
		gw_framing_header(&f, hv[i], hv[i + 1]);
	got = gw_framing_verdict(&f);
	FS_CHECK((got == NULL && want == NULL) ||
	        (got != NULL && want != NULL && strcmp(got, want) == 0),
	    "%s: \"%s\", expected \"%s\"", what, got ? got : "(accepted)",
	    want ? want : "(accepted)");
}
#define HV(...) ((const char *const[]){__VA_ARGS__, NULL})

static void
test_gw_framing_accepted(void)
{
	static const char *const none[] = {NULL};

	check("no header", none, NULL);
	check("plain", HV("Host", "x", "Content-Type", "application/json"),
	    NULL);
	check("Content-Length", HV("Content-Length", "12"), NULL);
	check("same Content-Length twice",
	    HV("Content-Length", "12", "content-length", "12"), NULL);
	check("chunked", HV("Transfer-Encoding", "chunked"), NULL);
	check("name in any case", HV("transfer-encoding", "chunked"), NULL);
	check("a name that only starts like a framing one",
	    HV("Content-Lengt", "5", "Content-Location", "/x"), NULL);
	check("every token character", HV("!#$%&'*+-.^_`|~09azAZ", "v"), NULL);
	check("empty value", HV("X-Empty", ""), NULL);
	check("NULL value", HV("X-Empty", NULL), NULL);
	check("a tab in a value", HV("X-Tab", "a\tb"), NULL);
}

static void
test_gw_framing_refused(void)
{
	check("CL then TE",
	    HV("Content-Length", "5", "Transfer-Encoding", "chunked"), BOTH);
	check("TE then CL",
	    HV("Transfer-Encoding", "chunked", "Content-Length", "5"), BOTH);
	check("CL with a bad TE",
	    HV("Content-Length", "5", "Transfer-Encoding", "gzip"), BOTH);
	check("differing CLs",
	    HV("Content-Length", "5", "Content-Length", "6"), CONFLICT);
	check("CLs differing in text only",
	    HV("Content-Length", "5", "Content-Length", "05"), CONFLICT);
	check("third CL differs",
	    HV("Content-Length", "5", "Content-Length", "5", "Content-Length",
	        "7"),
	    CONFLICT);
	check("TE gzip", HV("Transfer-Encoding", "gzip"), TE);
	check("TE Chunked", HV("Transfer-Encoding", "Chunked"), TE);
	check("TE list", HV("Transfer-Encoding", "gzip, chunked"), TE);
	check("TE chunked twice in one",
	    HV("Transfer-Encoding", "chunked, chunked"), TE);
	check("TE twice",
	    HV("Transfer-Encoding", "chunked", "Transfer-Encoding", "chunked"),
	    TE);
	check("TE trailing space", HV("Transfer-Encoding", "chunked "), TE);
	check("TE empty", HV("Transfer-Encoding", ""), TE);
	check("space before colon", HV("Content-Length ", "5"), NAME);
	check("tab before colon", HV("Content-Length\t", "5"), NAME);
	check("space first", HV(" Content-Length", "5"), NAME);
	check("space inside", HV("Content Length", "5"), NAME);
	check("empty name", HV("", "5"), NAME);
	check("separator", HV("X(y)", "5"), NAME);
	check("control", HV("X\001", "5"), NAME);
	check("CR in name", HV("X\r", "5"), NAME);
	check("8-bit", HV("X\xc3\xa9", "5"), NAME);
	check("bad name wins over a good CL",
	    HV("Content-Length", "5", "Content-Length ", "6"), NAME);
	check("folded Content-Length (as libmicrohttpd keeps it)",
	    HV("Content-Length6", "1"), NAME);
	check("folded Transfer-Encoding", HV("transfer-encodingchunked", ""),
	    NAME);
	check("a fold onto another header", HV("X-AContent-Length:", "5"),
	    NAME);
	check("bare CR in a value", HV("X-Note", "a\rContent-Length: 5"),
	    VALUE);
}

static CU_TestInfo framing_tests[] = {
    {"accepted header sets", test_gw_framing_accepted},
    {"refused header sets, with their detail", test_gw_framing_refused},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"gw_framing", NULL, NULL, NULL, NULL, framing_tests},
    CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return fs_test_main(suites);
}
