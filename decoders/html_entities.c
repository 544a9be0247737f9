/*
 * decoders/html_entities.c — HTML character references for the HTML and Markdown parsers:
 * numeric (&#233; &#xE9;, with the HTML rules: 0, surrogates and values past U+10FFFF become
 * U+FFFD, 0x80-0x9F are read as Windows-1252) and the named ones real pages use (all of
 * Latin-1, typography, arrows, maths, Greek).  Names are case-sensitive and need their ';',
 * except the legacy few browsers accept without it (&amp &lt &gt &quot &nbsp &copy &reg).
 * An unknown name is not a reference: the '&' stays literal text.
 */
#include "doc_internal.h"

#include <string.h>

typedef struct entity {
    const char *name;
    uint32_t cp;
} entity;

/* Sorted by name (strcmp) for the binary search below. */
static const entity entities[] = {
    {"AElig", 198}, {"Aacute", 193}, {"Acirc", 194}, {"Agrave", 192}, {"Alpha", 913},
    {"Aring", 197}, {"Atilde", 195}, {"Auml", 196}, {"Beta", 914}, {"Ccedil", 199},
    {"Dagger", 8225}, {"Delta", 916}, {"ETH", 208}, {"Eacute", 201}, {"Ecirc", 202},
    {"Egrave", 200}, {"Euml", 203}, {"Gamma", 915}, {"Iacute", 205}, {"Icirc", 206},
    {"Igrave", 204}, {"Iuml", 207}, {"Lambda", 923}, {"Ntilde", 209}, {"OElig", 338},
    {"Oacute", 211}, {"Ocirc", 212}, {"Ograve", 210}, {"Omega", 937}, {"Oslash", 216},
    {"Otilde", 213}, {"Ouml", 214}, {"Phi", 934}, {"Pi", 928}, {"Prime", 8243}, {"Psi", 936},
    {"Scaron", 352}, {"Sigma", 931}, {"THORN", 222}, {"Theta", 920}, {"Uacute", 218},
    {"Ucirc", 219}, {"Ugrave", 217}, {"Uuml", 220}, {"Yacute", 221}, {"Yuml", 376}, {"aacute", 225},
    {"acirc", 226}, {"acute", 180}, {"aelig", 230}, {"agrave", 224}, {"alpha", 945}, {"amp", 38},
    {"and", 8743}, {"apos", 39}, {"aring", 229}, {"asymp", 8776}, {"atilde", 227}, {"auml", 228},
    {"bdquo", 8222}, {"beta", 946}, {"brvbar", 166}, {"bull", 8226}, {"cap", 8745}, {"ccedil", 231},
    {"cedil", 184}, {"cent", 162}, {"check", 10003}, {"chi", 967}, {"circ", 710}, {"clubs", 9827},
    {"copy", 169}, {"cup", 8746}, {"curren", 164}, {"dagger", 8224}, {"darr", 8595}, {"deg", 176},
    {"delta", 948}, {"diams", 9830}, {"divide", 247}, {"eacute", 233}, {"ecirc", 234},
    {"egrave", 232}, {"empty", 8709}, {"emsp", 8195}, {"ensp", 8194}, {"epsilon", 949},
    {"equiv", 8801}, {"eta", 951}, {"eth", 240}, {"euml", 235}, {"euro", 8364}, {"exist", 8707},
    {"fnof", 402}, {"forall", 8704}, {"frac12", 189}, {"frac14", 188}, {"frac34", 190},
    {"frasl", 8260}, {"gamma", 947}, {"ge", 8805}, {"gt", 62}, {"hArr", 8660}, {"harr", 8596},
    {"hearts", 9829}, {"hellip", 8230}, {"iacute", 237}, {"icirc", 238}, {"iexcl", 161},
    {"igrave", 236}, {"infin", 8734}, {"int", 8747}, {"iota", 953}, {"iquest", 191}, {"isin", 8712},
    {"iuml", 239}, {"kappa", 954}, {"lArr", 8656}, {"lambda", 955}, {"laquo", 171}, {"larr", 8592},
    {"ldquo", 8220}, {"le", 8804}, {"loz", 9674}, {"lrm", 8206}, {"lsaquo", 8249}, {"lsquo", 8216},
    {"lt", 60}, {"macr", 175}, {"mdash", 8212}, {"micro", 181}, {"middot", 183}, {"minus", 8722},
    {"mu", 956}, {"nabla", 8711}, {"nbsp", 160}, {"ndash", 8211}, {"ne", 8800}, {"not", 172},
    {"ntilde", 241}, {"nu", 957}, {"oacute", 243}, {"ocirc", 244}, {"oelig", 339}, {"ograve", 242},
    {"oline", 8254}, {"omega", 969}, {"omicron", 959}, {"or", 8744}, {"ordf", 170}, {"ordm", 186},
    {"oslash", 248}, {"otilde", 245}, {"ouml", 246}, {"para", 182}, {"part", 8706},
    {"permil", 8240}, {"phi", 966}, {"pi", 960}, {"plusmn", 177}, {"pound", 163}, {"prime", 8242},
    {"prod", 8719}, {"psi", 968}, {"quot", 34}, {"rArr", 8658}, {"radic", 8730}, {"raquo", 187},
    {"rarr", 8594}, {"rdquo", 8221}, {"reg", 174}, {"rho", 961}, {"rlm", 8207}, {"rsaquo", 8250},
    {"rsquo", 8217}, {"sbquo", 8218}, {"scaron", 353}, {"sect", 167}, {"shy", 173}, {"sigma", 963},
    {"sigmaf", 962}, {"sim", 8764}, {"spades", 9824}, {"star", 9734}, {"sub", 8834}, {"sum", 8721},
    {"sup", 8835}, {"sup1", 185}, {"sup2", 178}, {"sup3", 179}, {"szlig", 223}, {"tau", 964},
    {"there4", 8756}, {"theta", 952}, {"thinsp", 8201}, {"thorn", 254}, {"tilde", 732},
    {"times", 215}, {"trade", 8482}, {"uacute", 250}, {"uarr", 8593}, {"ucirc", 251},
    {"ugrave", 249}, {"uml", 168}, {"upsilon", 965}, {"uuml", 252}, {"xi", 958}, {"yacute", 253},
    {"yen", 165}, {"yuml", 255}, {"zeta", 950}, {"zwj", 8205}, {"zwnj", 8204},
};

static const char *const legacy[] = {"amp", "lt", "gt", "quot", "nbsp", "copy", "reg"};

static int is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int32_t lookup(const char *name, size_t n) {
    size_t lo = 0, hi = sizeof entities / sizeof *entities;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strncmp(entities[mid].name, name, n);
        if (!c && entities[mid].name[n]) c = 1; /* longer than the key */
        if (!c) return (int32_t)entities[mid].cp;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

static uint32_t numeric_fixup(uint32_t v) {
    static const uint16_t w1252[32] = {
        0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
        0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};
    if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0xFFFD;
    if (v >= 0x80 && v < 0xA0) return w1252[v - 0x80];
    return v;
}

/* &#...; at s (s[0] == '&', s[1] == '#'). */
static size_t decode_numeric(const char *s, size_t n, char out[8], size_t *out_len) {
    size_t i = 2;
    int hex = i < n && (s[i] == 'x' || s[i] == 'X');
    i += hex;
    size_t d0 = i;
    uint32_t v = 0;
    for (; i < n; i++) {
        char c = s[i];
        int dv = c >= '0' && c <= '9' ? c - '0'
                 : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                 : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (dv < 0) break;
        v = v > 0x10FFFF ? v : v * (hex ? 16 : 10) + (uint32_t)dv; /* saturates, never wraps */
    }
    if (i == d0) return 0;
    if (i < n && s[i] == ';') i++;
    *out_len = doc_utf8_put(numeric_fixup(v), out);
    return i;
}

size_t doc_entity_decode(const char *s, size_t n, char out[8], size_t *out_len) {
    if (n < 2 || s[0] != '&') return 0;
    if (s[1] == '#') return decode_numeric(s, n, out, out_len);
    size_t k = 1;
    while (k < n && k <= 32 && is_alnum(s[k])) k++;
    size_t len = k - 1;
    if (!len || len > 31) return 0;
    int semi = k < n && s[k] == ';';
    int32_t cp = lookup(s + 1, len);
    if (cp < 0) return 0;
    if (!semi) {
        int ok = 0;
        for (size_t j = 0; j < sizeof legacy / sizeof *legacy; j++)
            ok |= strlen(legacy[j]) == len && !memcmp(legacy[j], s + 1, len);
        if (!ok) return 0;
    }
    *out_len = doc_utf8_put((uint32_t)cp, out);
    return k + (size_t)semi;
}
