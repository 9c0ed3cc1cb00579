/**
 * Version adapters: KMIP 1.0–1.4 and 2.0 payloads ⇄ the internal model (KMIP 2.1 payload
 * trees). The batch executor calls `requestToInternal` on every request payload and
 * `responseFromInternal` on every response payload, with the version of the request header.
 *
 * Requests (1.x → 2.1), per 1.4 s.2.1 / s.4 and 2.1 s.5 / s.6.1:
 * - Template-Attribute, Common / Private Key / Public Key Template-Attribute → Attributes,
 *   Common / Private Key / Public Key Attributes; each Attribute{Name, Index, Value} → the
 *   attribute under its own tag; "x-…"/"y-…" custom attributes → vendor attribute
 *   Attribute{Vendor Identification "x"/"y", Attribute Name, Attribute Value} (2.1 s.4.60).
 *   Template Names → a TEMPLATE_NAMES_TAG marker first in the container (resolved by
 *   operations/common/templates.ts); a Template object Template{Attribute×n} →
 *   Template{Attributes} (templates were deprecated in 1.3 and removed in 2.0).
 * - Locate: Attribute×n → Attributes (always present, possibly empty).
 * - Get Attributes: Attribute Name×n → Attribute Reference×n.
 * - Key Value{Key Material, Attribute×n} inside objects → Key Value{Key Material, Attributes}.
 * - Certify / Re-certify: Certificate Request (Byte String) → Certificate Request Value.
 * - 1.x-only attributes (Operation Policy Name, the 1.0 certificate attributes) keep their
 *   own tag in the internal model (see V1_ONLY_ATTRIBUTE_TAGS in ../attribute-names.ts);
 *   operations store them like any attribute, and the response filter hides them from 2.x.
 *
 * INTERNAL CONVENTIONS the attribute operations must follow (1.x indexes instances, 2.x
 * addresses them by value):
 * - Modify Attribute from 1.x arrives as { Unique Identifier?, New Attribute{item},
 *   Attribute Index n } — modify the n-th instance (0-based, in stored order) of the
 *   attribute of New Attribute. n is 0 when the 1.x client gave no index (1.4 s.4.15).
 * - Delete Attribute from 1.x arrives as { Unique Identifier?, Attribute Reference,
 *   Attribute Index n } — delete only the n-th instance (1.4 s.4.16), not all of them as a
 *   bare 2.x Attribute Reference would.
 * - Add Attribute from 1.x arrives as the 2.x form { Unique Identifier?, New Attribute }.
 * - A 2.x request never carries Attribute Index (requestToInternal refuses tags Reserved
 *   in 2.x), so an Attribute Index child always means "this came from a 1.x client".
 * - Responses of Add / Modify / Delete Attribute: the 1.x response repeats the attribute
 *   (1.4 s.4.14–4.16). Return it in the internal response as New Attribute{item} (Add,
 *   Modify: the attribute as now stored) or Current Attribute{item} (Delete: the removed
 *   instance), plus Attribute Index n (the instance's index, when known). The 1.x adapter
 *   turns these into Attribute{Name, Index (when n > 0), Value}; the 2.x adapter drops
 *   them (2.x responses are the Unique Identifier only).
 * - Attribute Index of Get Attributes responses is the position of the instance among the
 *   instances of the same attribute in the Attributes structure, so keep instances in a
 *   stable order.
 *
 * Responses (2.1 → the client's version):
 * - 1.x Get Attributes: Attributes → Attribute×n; Get Attribute List: Attribute Reference
 *   → Attribute Name; attribute containers → Template-Attributes; Key Value Attributes →
 *   Attribute×n (Veeam breaks on the 2.x Key Value).
 * - Result Reasons: resultReasonForVersion maps a 2.x reason to one the client version
 *   defines (Wrong Key Lifecycle State → Permission Denied for 1.x, as the 1.4 vectors show).
 * - Every version: no tag, item type, enumeration value, mask bit or attribute that the
 *   version does not define (filter.ts) — Fresh never goes to 1.0, Short Unique Identifier
 *   never to 1.x, Attribute Index / Operation Policy Name never to 2.x, Located Items only
 *   from 1.3.
 */
import type { TtlvItem } from '../../ttlv/types.ts';
import type { Struct } from '../items.ts';
import { is1x, type ProtocolVersion } from '../version.ts';
import { attributeFromV1 as fromV1, attributeToV1 as toV1 } from './attributes.ts';
import { checkV2Request, requestFromV1 } from './requests.ts';
import { responseToV1, responseToV2 } from './responses.ts';

/** Request payload of `version` → 2.1 shape. Throws KmipError (InvalidField, InvalidMessage, FeatureNotSupported) for malformed or unsupported input. */
export function requestToInternal(version: ProtocolVersion, operation: number, payload: Struct): Struct {
  if (is1x(version)) return requestFromV1(operation, payload);
  checkV2Request(version, payload, 'RequestPayload');
  return payload;
}

/** 2.1 response payload → the client's version. */
export function responseFromInternal(version: ProtocolVersion, operation: number, payload: Struct): Struct {
  return is1x(version) ? responseToV1(version, operation, payload) : responseToV2(version, operation, payload);
}

/** 1.x Attribute{AttributeName, AttributeIndex?, AttributeValue} → the 2.1 attribute item (its own tag), and back. */
export function attributeFromV1(attr: Struct): TtlvItem {
  return fromV1(attr);
}
export function attributeToV1(item: TtlvItem, index?: number): Struct {
  return toV1(item, index);
}

export { filterForVersion, filterAttribute, tagDefinedIn } from './filter.ts';
export {
  readV1Attribute, v1NameOf, referenceFromV1Name, v1NameOfReference, attributesToV1List,
  templateToAttributes, attributesToTemplate, objectFromV1, objectToV1, type V1Attribute,
  TEMPLATE_NAMES_TAG, templateObjectFromV1, templateObjectToV1,
} from './attributes.ts';
export { resultReasonForVersion } from './reasons.ts';
