// Which service a Krypton Gateway acts for on one KMIP message (issue 11 §1-§2).
//
// A gateway identity may act for several services of its tenant (its own, named in its
// certificate, and the `alsoServices` of its governance record). The data-key path needs no
// more than that (each wrap names its service in the Unique Identifier
// `openkcm:service-l3:<service>`), but the KMIP front forwards ordinary requests (Create,
// Get, Locate …) whose objects belong to one service. The gateway says which one in the
// Request Header, with the standard carrier for "who is asking":
//
//   Authentication (KMIP 2.1 §9.2; 1.4 §6.6)
//     Credential (2.1 §2.2; 1.4 §2.1.2)
//       Credential Type  = Username and Password
//       Credential Value = { Username = <service id> }        (no Password: 1.4 §2.1.2 makes it optional)
//
// Both 1.x and 2.x define this credential with the same shape, so a forwarded PyKMIP 1.x
// message carries it unchanged. The Core reads it only on messages of a gateway identity
// (src/server/executor.ts) and only as a choice within that identity's list; for any other
// identity credentials stay what they were (ignored: the TLS client certificate is the
// identity, DESIGN.md §3). The gateway strips whatever Authentication the application sent
// before it adds its own, so an application can never choose a service for itself.
import { decode } from '../ttlv/decode.ts';
import { encode } from '../ttlv/encode.ts';
import { CredentialType, ResultReason } from '../ttlv/generated/enumerations.ts';
import { Tag } from '../ttlv/generated/tags.ts';
import type { TtlvItem } from '../ttlv/types.ts';
import { KmipError } from './errors.ts';
import { enumeration, structure, textString, type Struct } from './items.ts';

/** The Authentication structure naming the service a gateway acts for. */
export function actingForAuthentication(service: string): Struct {
  return structure(Tag.Authentication, [
    structure(Tag.Credential, [
      enumeration(Tag.CredentialType, CredentialType.UsernameAndPassword),
      structure(Tag.CredentialValue, [textString(Tag.Username, service)]),
    ]),
  ]);
}

/**
 * The service named by a Request Header's Authentication (see above), or undefined when it
 * names none. Several Username credentials naming different services are refused: which
 * one would the Core believe?
 */
export function actingForService(authentication: Struct | undefined): string | undefined {
  if (authentication === undefined) return undefined;
  let found: string | undefined;
  for (const cred of authentication.value) {
    if (cred.tag !== Tag.Credential || cred.type !== 'Structure') continue;
    const type = cred.value.find((c) => c.tag === Tag.CredentialType);
    if (type?.type !== 'Enumeration' || type.value !== CredentialType.UsernameAndPassword) continue;
    const value = cred.value.find((c) => c.tag === Tag.CredentialValue);
    const user = value?.type === 'Structure' ? value.value.find((c) => c.tag === Tag.Username) : undefined;
    if (user?.type !== 'TextString') {
      throw new KmipError(ResultReason.InvalidField, 'Authentication: a Username and Password credential without a Username (a gateway names the service it acts for there)');
    }
    if (found !== undefined && found !== user.value) {
      throw new KmipError(ResultReason.InvalidField, `Authentication names two services (${found}, ${user.value}); a gateway acts for one per message`);
    }
    found = user.value;
  }
  return found;
}

/**
 * Header fields that follow Authentication (2.1 §8.1.1 / 1.4 §7.2 order): our Authentication
 * goes before the first of them.
 */
const AFTER_AUTHENTICATION: ReadonlySet<number> = new Set([
  Tag.BatchErrorContinuationOption, Tag.BatchOrderOption, Tag.TimeStamp, Tag.BatchCount,
]);

/**
 * The request message `bytes` with its Request Header's Authentication replaced: the
 * application's own credentials removed, and, when `service` is given, the credential that
 * names it added. Undefined when the bytes are not a request message whose header can be
 * found (the caller forwards them as they are: the Core's decoder, the same as ours, answers
 * them with Invalid Message, and a message it cannot read runs no operation for any service).
 */
export function withActingFor(bytes: Buffer, service: string | undefined): Buffer | undefined {
  let msg: TtlvItem;
  try {
    msg = decode(bytes);
  } catch {
    return undefined;
  }
  if (msg.tag !== Tag.RequestMessage || msg.type !== 'Structure') return undefined;
  const header = msg.value[0];
  if (header?.tag !== Tag.RequestHeader || header.type !== 'Structure') return undefined;
  const fields = header.value.filter((c) => c.tag !== Tag.Authentication);
  if (service !== undefined) {
    let at = fields.findIndex((c) => AFTER_AUTHENTICATION.has(c.tag));
    if (at < 0) at = fields.length;
    fields.splice(at, 0, actingForAuthentication(service));
  }
  return encode(structure(Tag.RequestMessage, [structure(Tag.RequestHeader, fields), ...msg.value.slice(1)]));
}
