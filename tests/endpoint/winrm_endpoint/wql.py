"""A WQL subset: SELECT * | prop[, prop...] FROM Class [WHERE condition].

Conditions: =, <>, !=, <, >, <=, >=, LIKE (% _ [abc] [a-z] [^abc]), IS [NOT] NULL,
AND, OR, NOT, parentheses; literals 'str' "str" numbers TRUE FALSE NULL.
String comparisons are case-insensitive, as in WMI. Errors raise WqlError; the caller
decides which Windows fault that becomes.
"""

import datetime
import functools
import re


class WqlError(Exception):
    pass


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<op><>|!=|<=|>=|=|<|>)
  | (?P<punct>[(),*])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
""", re.X)

KEYWORDS = {'select', 'from', 'where', 'and', 'or', 'not', 'is', 'null', 'like', 'true', 'false'}


def tokenize(text):
    pos = 0
    out = []
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise WqlError('unexpected character %r at offset %d' % (text[pos], pos))
        pos = m.end()
        kind = m.lastgroup
        value = m.group(kind)
        if kind == 'ws':
            continue
        if kind == 'str':
            value = re.sub(r'\\(.)', r'\1', value[1:-1])
        elif kind == 'num':
            value = float(value) if any(c in value for c in '.eE') else int(value)
        elif kind == 'ident' and value.lower() in KEYWORDS:
            kind, value = 'kw', value.lower()
        out.append((kind, value))
    out.append(('end', None))
    return out


class Query:
    def __init__(self, props, class_name, where):
        self.props = props            # None for *, else list of names
        self.class_name = class_name
        self.where = where            # AST or None


class _Parser:
    def __init__(self, text):
        self.toks = tokenize(text)
        self.i = 0

    def peek(self):
        return self.toks[self.i]

    def take(self, kind=None, value=None):
        tok = self.toks[self.i]
        if (kind and tok[0] != kind) or (value is not None and tok[1] != value):
            want = value or kind
            raise WqlError('expected %s but found %s' % (want, tok[1] if tok[1] is not None else 'end of query'))
        self.i += 1
        return tok

    def accept(self, kind, value=None):
        tok = self.peek()
        if tok[0] == kind and (value is None or tok[1] == value):
            self.i += 1
            return tok
        return None

    def query(self):
        self.take('kw', 'select')
        if self.accept('punct', '*'):
            props = None
        else:
            props = [self.take('ident')[1]]
            while self.accept('punct', ','):
                props.append(self.take('ident')[1])
        self.take('kw', 'from')
        cls = self.take('ident')[1]
        where = None
        if self.accept('kw', 'where'):
            where = self.expr()
        self.take('end')
        return Query(props, cls, where)

    def expr(self):
        node = self.conj()
        while self.accept('kw', 'or'):
            node = ('or', node, self.conj())
        return node

    def conj(self):
        node = self.neg()
        while self.accept('kw', 'and'):
            node = ('and', node, self.neg())
        return node

    def neg(self):
        if self.accept('kw', 'not'):
            return ('not', self.neg())
        return self.primary()

    def literal(self):
        tok = self.peek()
        if tok[0] in ('str', 'num'):
            self.i += 1
            return tok[1]
        if tok[0] == 'kw' and tok[1] in ('true', 'false', 'null'):
            self.i += 1
            return {'true': True, 'false': False, 'null': None}[tok[1]]
        raise WqlError('expected a value but found %s' % (tok[1] if tok[1] is not None else 'end of query'))

    def primary(self):
        if self.accept('punct', '('):
            node = self.expr()
            self.take('punct', ')')
            return node
        tok = self.peek()
        if tok[0] == 'ident':
            self.i += 1
            prop = tok[1]
            if self.accept('kw', 'is'):
                negate = bool(self.accept('kw', 'not'))
                self.take('kw', 'null')
                return ('notnull' if negate else 'isnull', prop)
            if self.accept('kw', 'not'):
                self.take('kw', 'like')
                return ('not', ('like', prop, self._pattern()))
            if self.accept('kw', 'like'):
                return ('like', prop, self._pattern())
            op = self.take('op')[1]
            return ('cmp', op, prop, self.literal())
        # literal op property
        value = self.literal()
        op = self.take('op')[1]
        prop = self.take('ident')[1]
        flipped = {'<': '>', '>': '<', '<=': '>=', '>=': '<='}.get(op, op)
        return ('cmp', flipped, prop, value)

    def _pattern(self):
        tok = self.take('str')
        return tok[1]


def parse(text):
    if not text or not text.strip():
        raise WqlError('the query is empty')
    return _Parser(text).query()


def properties_used(node, out):
    if node is None:
        return out
    if node[0] in ('and', 'or'):
        properties_used(node[1], out)
        properties_used(node[2], out)
    elif node[0] == 'not':
        properties_used(node[1], out)
    elif node[0] in ('isnull', 'notnull'):
        out.append(node[1])
    elif node[0] == 'like':
        out.append(node[1])
    elif node[0] == 'cmp':
        out.append(node[2])
    return out


@functools.lru_cache(maxsize=64)
def like_regex(pattern):
    out = ''
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == '%':
            out += '.*'
        elif c == '_':
            out += '.'
        elif c == '[':
            end = pattern.find(']', i + 1)
            if end < 0:
                raise WqlError('unterminated [ in LIKE pattern')
            body = pattern[i + 1:end]
            neg = body.startswith('^')
            if neg:
                body = body[1:]
            out += '[' + ('^' if neg else '') + body.replace('\\', '\\\\') + ']'
            i = end
        else:
            out += re.escape(c)
        i += 1
    return re.compile('^' + out + '$', re.I | re.S)


def _dmtf(value):
    if isinstance(value, datetime.datetime):
        off = value.utcoffset() or datetime.timedelta(0)
        minutes = int(off.total_seconds() // 60)
        return value.strftime('%Y%m%d%H%M%S') + '.%06d%s%03d' % (
            value.microsecond, '+' if minutes >= 0 else '-', abs(minutes))
    return value


def _compare(op, left, right):
    if right is None:
        if op == '=':
            return left is None
        if op in ('<>', '!='):
            return left is not None
        return False
    if left is None:
        return False
    if isinstance(left, list):
        return any(_compare(op, item, right) for item in left)
    left = _dmtf(left)
    if isinstance(left, bool):
        if isinstance(right, str):
            right = right.strip().lower() in ('true', '1')
        else:
            right = bool(right)
    elif isinstance(left, (int, float)):
        if isinstance(right, str):
            try:
                right = float(right) if '.' in right else int(right)
            except ValueError:
                raise WqlError('type mismatch: %r is not a number' % right)
        elif isinstance(right, bool):
            right = int(right)
    else:
        left = str(left).lower()
        right = str(right).lower() if not isinstance(right, bool) else ('true' if right else 'false')
        if isinstance(right, (int, float)):
            right = str(right)
    if op == '=':
        return left == right
    if op in ('<>', '!='):
        return left != right
    try:
        if op == '<':
            return left < right
        if op == '>':
            return left > right
        if op == '<=':
            return left <= right
        if op == '>=':
            return left >= right
    except TypeError:
        raise WqlError('type mismatch comparing %r with %r' % (left, right))
    raise WqlError('unknown operator %s' % op)


def evaluate(node, get):
    """get(prop_name) -> the instance's value of that property."""
    if node is None:
        return True
    kind = node[0]
    if kind == 'and':
        return evaluate(node[1], get) and evaluate(node[2], get)
    if kind == 'or':
        return evaluate(node[1], get) or evaluate(node[2], get)
    if kind == 'not':
        return not evaluate(node[1], get)
    if kind == 'isnull':
        return get(node[1]) is None
    if kind == 'notnull':
        return get(node[1]) is not None
    if kind == 'like':
        value = get(node[1])
        if value is None:
            return False
        return bool(like_regex(node[2]).match(str(value)))
    if kind == 'cmp':
        return _compare(node[1], get(node[2]), node[3])
    raise WqlError('bad expression')
