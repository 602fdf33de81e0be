"""Damages a saved checkpoint the way a hostile or broken writer would.

Usage: edit_checkpoint.py tensor FILE.safetensors NAME VALUE [INDEX]
           sets element INDEX (every element without it) of float32 tensor NAME
       edit_checkpoint.py state trainer_state.json KEY JSON_TEXT
           sets KEY to JSON_TEXT written verbatim (so -1e8 stays a float literal)
"""
import json
import re
import struct
import sys


def set_tensor(path, name, value, index):
    data = bytearray(open(path, 'rb').read())
    size = struct.unpack('<Q', data[:8])[0]
    header = json.loads(data[8:8 + size])
    begin, end = header[name]['data_offsets']
    indices = [index] if index is not None else range((end - begin) // 4)
    for i in indices:
        struct.pack_into('<f', data, 8 + size + begin + 4 * i, value)
    open(path, 'wb').write(data)


def set_state(path, key, text):
    state = open(path).read()
    pattern = r'"%s": [^,\n}]*' % re.escape(key)
    if not re.search(pattern, state):
        sys.exit('%s: no key %s' % (path, key))
    open(path, 'w').write(re.sub(pattern, lambda _: '"%s": %s' % (key, text), state))


if __name__ == '__main__':
    if sys.argv[1] == 'tensor':
        set_tensor(sys.argv[2], sys.argv[3], float(sys.argv[4]),
                   int(sys.argv[5]) if len(sys.argv) > 5 else None)
    elif sys.argv[1] == 'state':
        set_state(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
