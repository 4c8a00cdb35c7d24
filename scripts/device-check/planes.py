#!/usr/bin/env python3
"""Lossless byte-plane split of float32 weight files, so that xz can squeeze the exponents.

  planes.py split OUT_DIR FILE...     writes OUT_DIR/manifest.json, planes012.bin (stored as is: mantissa
                                      bytes do not compress) and plane3.bin (sign + exponent: xz it)
  planes.py join IN_DIR DEST_DIR      rebuilds the files (after plane3.bin was unxz'ed) and checks SHA-256

Pure Python (bytearray slices), no numpy: it runs with any python3, the GPU machine's included.
"""
import hashlib, json, os, sys


def split(out_dir, files):
    os.makedirs(out_dir, exist_ok=True)
    data = bytearray()
    manifest = {'files': []}
    for f in files:
        b = open(f, 'rb').read()
        manifest['files'].append({'name': os.path.basename(f), 'bytes': len(b), 'sha256': hashlib.sha256(b).hexdigest()})
        data += b
    pad = (-len(data)) % 4
    data += bytes(pad)
    manifest['padding'] = pad
    with open(os.path.join(out_dir, 'planes012.bin'), 'wb') as out:
        for k in range(3):
            out.write(data[k::4])
    with open(os.path.join(out_dir, 'plane3.bin'), 'wb') as out:
        out.write(data[3::4])
    json.dump(manifest, open(os.path.join(out_dir, 'manifest.json'), 'w'), indent=1)


def join(in_dir, dest):
    manifest = json.load(open(os.path.join(in_dir, 'manifest.json')))
    p012 = open(os.path.join(in_dir, 'planes012.bin'), 'rb').read()
    p3 = open(os.path.join(in_dir, 'plane3.bin'), 'rb').read()
    n = len(p3)
    if len(p012) != 3 * n:
        sys.exit(f'planes differ in size: {len(p012)} vs 3 x {n}')
    data = bytearray(4 * n)
    for k in range(3):
        data[k::4] = p012[k * n:(k + 1) * n]
    data[3::4] = p3
    os.makedirs(dest, exist_ok=True)
    pos = 0
    for f in manifest['files']:
        b = bytes(data[pos:pos + f['bytes']])
        pos += f['bytes']
        if hashlib.sha256(b).hexdigest() != f['sha256']:
            sys.exit(f"{f['name']}: SHA-256 differs after joining the planes")
        open(os.path.join(dest, f['name']), 'wb').write(b)
    print(f"planes.py: {len(manifest['files'])} files, {pos} bytes rebuilt in {dest}")


if __name__ == '__main__':
    if len(sys.argv) >= 4 and sys.argv[1] == 'split':
        split(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 4 and sys.argv[1] == 'join':
        join(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
