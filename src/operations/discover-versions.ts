// Discover Versions (KMIP 2.1 s.6.1.16; 1.4 s.4.26).
import { Operation, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import { KmipError } from '../kmip/errors.ts';
import { children, integer, optInt, structure, type Struct } from '../kmip/items.ts';
import { isSupportedVersion, SUPPORTED_VERSIONS, type ProtocolVersion } from '../kmip/version.ts';
import { defineOperation } from './uid.ts';

const encodeVersion = (v: ProtocolVersion): Struct =>
  structure(Tag.ProtocolVersion, [integer(Tag.ProtocolVersionMajor, v.major), integer(Tag.ProtocolVersionMinor, v.minor)]);

function decodeVersion(item: Struct): ProtocolVersion {
  const major = optInt(item, Tag.ProtocolVersionMajor);
  const minor = optInt(item, Tag.ProtocolVersionMinor);
  if (major === undefined || minor === undefined) {
    throw new KmipError(ResultReason.InvalidField, 'Protocol Version needs Protocol Version Major and Minor');
  }
  return { major, minor };
}

export const discoverVersions = defineOperation(Operation.DiscoverVersions, 'DiscoverVersions', '1.1', async (_ctx, payload) => {
  const offered = children(payload, Tag.ProtocolVersion).map((c) => {
    if (c.type !== 'Structure') throw new KmipError(ResultReason.InvalidField, 'Protocol Version must be a Structure');
    return decodeVersion(c);
  });
  // s.6.1.16: no list → every supported version, the server's preference first; a list →
  // the supported ones among them, in the client's order; none in common → an empty list.
  const answer = offered.length === 0 ? SUPPORTED_VERSIONS : offered.filter(isSupportedVersion);
  const seen = new Set<string>();
  const unique = answer.filter((v) => {
    const k = `${v.major}.${v.minor}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  return structure(Tag.ResponsePayload, unique.map(encodeVersion));
});
