#!/usr/bin/env python3
"""Zero the CUDA fatbin payloads of a shared library for every GPU architecture but the ones kept.

usage: prune-fatbin.py IN.so OUT.so [--keep 90[,..]] [--list]

The .nv_fatbin section holds one fatbin per translation unit, each a list of entries (kind 1 = PTX,
2 = cubin/ELF) for one SM architecture. The CUDA driver picks, per fatbin, the entry that matches the
device (sm_90 for H100/H200) and never reads the others, so their payloads are overwritten with zeros:
the file keeps its size, layout, headers and every offset (nothing is relinked), and xz squeezes the
zeros away. A library pruned this way runs only on the kept architectures; PTX entries are kept
unless --drop-ptx, since the driver may JIT them for a newer GPU.
"""
import argparse, hashlib, struct, sys

FATBIN_MAGIC = 0xBA55ED50


def section(data: bytes, name: str):
    """(offset, size) of a section of a 64-bit little-endian ELF file."""
    if data[:4] != b'\x7fELF' or data[4] != 2 or data[5] != 1:
        raise SystemExit('not a 64-bit little-endian ELF file')
    shoff, = struct.unpack_from('<Q', data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x3A)
    def header(i):
        return struct.unpack_from('<IIQQQQIIQQ', data, shoff + i * shentsize)
    strtab_off = header(shstrndx)[4]
    for i in range(shnum):
        h = header(i)
        end = data.index(b'\0', strtab_off + h[0])
        if data[strtab_off + h[0]:end].decode() == name:
            return h[4], h[5]
    raise SystemExit(f'no {name} section')


def entries(data: bytes, offset: int, size: int):
    """Yield (entry_offset, header_size, payload_size, kind, sm) for every fatbin entry in the section."""
    pos, end = offset, offset + size
    while pos + 16 <= end:
        magic, _version, header_size, fat_size = struct.unpack_from('<IHHQ', data, pos)
        if magic != FATBIN_MAGIC:
            pos += 8  # fatbins are 8-byte aligned; skip padding
            continue
        e, fat_end = pos + header_size, pos + header_size + fat_size
        while e < fat_end:
            kind, _ever, ehsz, psz = struct.unpack_from('<HHIQ', data, e)
            sm, = struct.unpack_from('<I', data, e + 28)
            yield e, ehsz, psz, kind, sm
            e += ehsz + psz
        pos = fat_end


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('input')
    ap.add_argument('output', nargs='?')
    ap.add_argument('--keep', default='90', help='comma-separated SM versions to keep, e.g. 90 or 80,90')
    ap.add_argument('--drop-ptx', action='store_true')
    ap.add_argument('--list', action='store_true', help='only list the architectures found')
    args = ap.parse_args()
    keep = {int(x) for x in args.keep.split(',') if x}
    data = bytearray(open(args.input, 'rb').read())
    off, size = section(data, '.nv_fatbin')
    stats = {}
    zeroed = 0
    for e, ehsz, psz, kind, sm in entries(data, off, size):
        key = ('ptx' if kind == 1 else 'cubin' if kind == 2 else f'kind{kind}', sm)
        count, total = stats.get(key, (0, 0))
        stats[key] = (count + 1, total + psz)
        drop = sm not in keep and not (kind == 1 and not args.drop_ptx)
        if drop and not args.list:
            data[e + ehsz:e + ehsz + psz] = bytes(psz)
            zeroed += psz
    for (kind, sm), (count, total) in sorted(stats.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(f'{kind} sm_{sm}: {count} entries, {total / 2**20:.1f} MiB{"" if sm in keep or args.list else " (zeroed)"}')
    if not any(sm in keep for (_k, sm) in stats):
        raise SystemExit(f'none of the kept architectures {sorted(keep)} is in the library: refusing to write it')
    if args.list or not args.output:
        return
    open(args.output, 'wb').write(data)
    print(f'zeroed {zeroed / 2**20:.1f} MiB of {size / 2**20:.1f} MiB of .nv_fatbin; '
          f'sha256 in {hashlib.sha256(open(args.input, "rb").read()).hexdigest()[:16]}… out {hashlib.sha256(data).hexdigest()[:16]}…')


if __name__ == '__main__':
    main()
