"""Just enough PSRP for the PowerShell plugin to follow what pwsh says (facts.md 3.1-3.3).

The plugin passes PSRP through untouched in content; it only needs to know where fragments
begin and end (to re-cut them to a Receive's envelope) and which messages end a pipeline or
wait for the client (PIPELINE_STATE, PIPELINE_HOST_CALL).
"""

import re
import struct
import uuid

FRAGMENT_HEADER = 21           # ObjectId u64, FragmentId u64, flags u8, BlobLength u32 (big-endian)
START = 0x1
END = 0x2

SESSION_CAPABILITY = 0x00010002
INIT_RUNSPACEPOOL = 0x00010004
CONNECT_RUNSPACEPOOL = 0x00010008
RUNSPACEPOOL_STATE = 0x00021005
APPLICATION_PRIVATE_DATA = 0x00021009
RUNSPACEPOOL_INIT_DATA = 0x0002100B
PIPELINE_STATE = 0x00041006
PIPELINE_HOST_CALL = 0x00041100
RUNSPACEPOOL_HOST_CALL = 0x00021100

# PipelineState values that end a pipeline: Stopped, Completed, Failed.
PIPELINE_FINISHED = (3, 4, 5)
# RunspacePoolState values after which the pool is gone: Closed, Broken.
POOL_FINISHED = (3, 5)

ZERO_GUID = '00000000-0000-0000-0000-000000000000'
DEST_CLIENT = 0x1
BOM = b'\xef\xbb\xbf'


class Fragment:
    __slots__ = ('object_id', 'fragment_id', 'flags', 'blob')

    def __init__(self, object_id, fragment_id, flags, blob):
        self.object_id = object_id
        self.fragment_id = fragment_id
        self.flags = flags
        self.blob = blob

    def pack(self):
        return struct.pack('>QQBI', self.object_id, self.fragment_id, self.flags, len(self.blob)) + self.blob


def split_fragments(data):
    """The fragments in data (bytes of one or more whole fragments). Raises ValueError."""
    out = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < FRAGMENT_HEADER:
            raise ValueError('truncated fragment header')
        object_id, fragment_id, flags, length = struct.unpack_from('>QQBI', data, pos)
        pos += FRAGMENT_HEADER
        if len(data) - pos < length:
            raise ValueError('truncated fragment blob')
        out.append(Fragment(object_id, fragment_id, flags, data[pos:pos + length]))
        pos += length
    return out


class Message:
    __slots__ = ('destination', 'type', 'rpid', 'pid', 'data')

    def __init__(self, blob):
        if len(blob) < 40:
            raise ValueError('message shorter than its header')
        self.destination, self.type = struct.unpack_from('<II', blob, 0)
        self.rpid = str(uuid.UUID(bytes_le=bytes(blob[8:24])))
        self.pid = str(uuid.UUID(bytes_le=bytes(blob[24:40])))
        data = bytes(blob[40:])
        if data.startswith(b'\xef\xbb\xbf'):
            data = data[3:]
        self.data = data.decode('utf-8', 'replace')

    def pack(self):
        """The message as bytes again (server messages carry the BOM, as pwsh writes them)."""
        return pack_message(self.destination, self.type, self.rpid, self.pid, self.data)

    def i32(self, name):
        return _number(self.data, 'I32', name)

    def i64(self, name):
        return _number(self.data, 'I64', name)


def pack_message(destination, mtype, rpid, pid, clixml):
    """A PSRP message (facts.md 3.2): header little-endian, GUIDs in .NET byte order."""
    data = clixml.encode('utf-8') if isinstance(clixml, str) else clixml
    if destination == DEST_CLIENT and not data.startswith(BOM):
        data = BOM + data
    return (struct.pack('<II', destination, mtype) + uuid.UUID(rpid).bytes_le
            + uuid.UUID(pid).bytes_le + data)


def whole_fragment(object_id, blob):
    """A message in one fragment (Start and End)."""
    return Fragment(object_id, 0, START | END, blob)


def messages_of(data):
    """The whole messages in data (fragments back to back). Raises ValueError."""
    reasm = Reassembler()
    out = []
    for frag in split_fragments(data):
        msg = reasm.feed(frag)
        if msg is not None:
            out.append(msg)
    return out


def _number(clixml, tag, name):
    m = re.search(r'<%s N="%s">(-?\d+)</%s>' % (tag, re.escape(name), tag), clixml)
    return int(m.group(1)) if m else None


class Reassembler:
    """Joins fragments into messages, per ObjectId, in arrival order."""

    def __init__(self):
        self.partial = {}

    def feed(self, fragment):
        """The whole Message this fragment completes, or None."""
        if fragment.flags & START:
            self.partial[fragment.object_id] = bytearray()
        buf = self.partial.get(fragment.object_id)
        if buf is None:
            return None                # a middle fragment without its start: ignore
        buf += fragment.blob
        if not fragment.flags & END:
            return None
        del self.partial[fragment.object_id]
        try:
            return Message(buf)
        except ValueError:
            return None


class Refragmenter:
    """Re-cuts a stream of fragments so that each piece fits a byte budget.

    Fragment ids are renumbered per ObjectId as pieces go out, so a fragment split in two
    keeps the sequence valid: only the first piece of a start fragment has the start flag and
    only the last piece of an end fragment has the end flag.
    """

    def __init__(self):
        self.next_id = {}

    def take(self, fragment, max_blob):
        """(piece to send, rest Fragment or None). max_blob >= 1."""
        fid = self.next_id.get(fragment.object_id, 0)
        if len(fragment.blob) <= max_blob:
            piece = Fragment(fragment.object_id, fid, fragment.flags, fragment.blob)
            rest = None
        else:
            piece = Fragment(fragment.object_id, fid, fragment.flags & START, fragment.blob[:max_blob])
            rest = Fragment(fragment.object_id, None, fragment.flags & END, fragment.blob[max_blob:])
        if piece.flags & END:
            self.next_id.pop(fragment.object_id, None)
        else:
            self.next_id[fragment.object_id] = fid + 1
        return piece, rest
