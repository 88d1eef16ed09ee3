/*
 * audit_json.c: the canonical text of an audit row's details.
 *
 * The audit encoding hashes details as PostgreSQL prints a jsonb value
 * (details::text), so that an auditor can recompute a hash from a CSV export.
 * JsonbToCString produces that text, but it copies every string before
 * escaping it one character at a time, which made it a quarter of the cost
 * of verifying a chain.  This writes the same text (keys in stored order,
 * the separators ", " and ": ", the escapes \b \f \n \r \t \" \\ and \u00XX
 * with lower-case hex for other control characters, numbers through
 * numeric_out) straight from the stored containers (utils/jsonb.h describes
 * their layout), with no iterator and no copy of each string, and it escapes
 * whole runs of plain bytes at once.  sql/audit.sql checks it against
 * details::text over every row the tests write.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "audit_walk.h"

/* Bytes that go out as they are: all but control characters, '"' and '\\'. */
static bool plain[256];
static bool plain_ready = false;

static void
put_string(StringInfo out, const char *s, int len)
{
	static const char hex[] = "0123456789abcdef";
	const char *end = s + len;

	if (unlikely(!plain_ready))
	{
		for (int c = 0; c < 256; c++)
			plain[c] = c >= 0x20 && c != '"' && c != '\\';
		plain_ready = true;
	}
	enlargeStringInfo(out, len + 2);
	appendStringInfoCharMacro(out, '"');
	while (s < end)
	{
		const char *run = s;
		unsigned char c;

		while (s < end && plain[(unsigned char) *s])
			s++;
		if (s > run)
			appendBinaryStringInfo(out, run, (int) (s - run));
		if (s == end)
			break;
		c = (unsigned char) *s++;
		switch (c)
		{
			case '\b':
				appendBinaryStringInfo(out, "\\b", 2);
				break;
			case '\f':
				appendBinaryStringInfo(out, "\\f", 2);
				break;
			case '\n':
				appendBinaryStringInfo(out, "\\n", 2);
				break;
			case '\r':
				appendBinaryStringInfo(out, "\\r", 2);
				break;
			case '\t':
				appendBinaryStringInfo(out, "\\t", 2);
				break;
			case '"':
				appendBinaryStringInfo(out, "\\\"", 2);
				break;
			case '\\':
				appendBinaryStringInfo(out, "\\\\", 2);
				break;
			default:
				{
					char		u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

					appendBinaryStringInfo(out, u, 6);
				}
		}
	}
	appendStringInfoCharMacro(out, '"');
}

/* Entry i of container c, whose data starts at `data`, from offset `off`. */
static void put_container(StringInfo out, const JsonbContainer *c);

static void
put_entry(StringInfo out, JEntry je, const char *data, uint32 off, uint32 end)
{
	switch (je & JENTRY_TYPEMASK)
	{
		case JENTRY_ISSTRING:
			put_string(out, data + off, (int) (end - off));
			break;
		case JENTRY_ISNUMERIC:
			/* numerics and containers are aligned; padding precedes them */
			appendStringInfoString(out,
								   DatumGetCString(DirectFunctionCall1(numeric_out,
																	   PointerGetDatum(data + INTALIGN(off)))));
			break;
		case JENTRY_ISBOOL_FALSE:
			appendBinaryStringInfo(out, "false", 5);
			break;
		case JENTRY_ISBOOL_TRUE:
			appendBinaryStringInfo(out, "true", 4);
			break;
		case JENTRY_ISNULL:
			appendBinaryStringInfo(out, "null", 4);
			break;
		case JENTRY_ISCONTAINER:
			check_stack_depth();
			put_container(out, (const JsonbContainer *) (data + INTALIGN(off)));
			break;
		default:
			elog(ERROR, "unexpected jsonb entry type %u", (je & JENTRY_TYPEMASK) >> 28);
	}
}

/*
 * An array's entries are its elements; an object's are its n keys, then its
 * n values.  Each entry holds either its length or (every JB_OFFSET_STRIDE
 * entries) its end offset, so running offsets are kept as we go.
 */
static void
put_container(StringInfo out, const JsonbContainer *c)
{
	uint32		n = c->header & JB_CMASK;

	if (c->header & JB_FOBJECT)
	{
		const char *data = (const char *) &c->children[2 * n];
		uint32		koff = 0,
					voff = n > 0 ? getJsonbOffset(c, (int) n) : 0;

		appendStringInfoCharMacro(out, '{');
		for (uint32 i = 0; i < n; i++)
		{
			uint32		kend = koff,
						vend = voff;

			JBE_ADVANCE_OFFSET(kend, c->children[i]);
			JBE_ADVANCE_OFFSET(vend, c->children[n + i]);
			if (i > 0)
				appendBinaryStringInfo(out, ", ", 2);
			put_string(out, data + koff, (int) (kend - koff));
			appendBinaryStringInfo(out, ": ", 2);
			put_entry(out, c->children[n + i], data, voff, vend);
			koff = kend;
			voff = vend;
		}
		appendStringInfoCharMacro(out, '}');
	}
	else
	{
		const char *data = (const char *) &c->children[n];
		bool		scalar = (c->header & JB_FSCALAR) != 0;
		uint32		off = 0;

		if (!scalar)
			appendStringInfoCharMacro(out, '[');
		for (uint32 i = 0; i < n; i++)
		{
			uint32		end = off;

			JBE_ADVANCE_OFFSET(end, c->children[i]);
			if (i > 0)
				appendBinaryStringInfo(out, ", ", 2);
			put_entry(out, c->children[i], data, off, end);
			off = end;
		}
		if (!scalar)
			appendStringInfoCharMacro(out, ']');
	}
}

void
tc_jsonb_text(Jsonb *j, StringInfo out)
{
	resetStringInfo(out);
	put_container(out, &j->root);
}
