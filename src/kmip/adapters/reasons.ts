// Result Reasons across versions: THE one table of the project. Operations raise 2.1
// reasons (2.1 s.11.46); 2.0 added some forty of them, and a 1.x client must get one its
// version defines (the version filter cannot simply drop a Result Reason: it is REQUIRED in
// a failed batch item, 1.4 s.6.11). Two 1.x reasons are Reserved in 2.x and need the
// reverse mapping. Every layer that answers a client uses `resultReasonForVersion`: the
// operations (through policy/lifecycle.ts reasonForVersion, which delegates here) and the
// batch executor.
import { ENUMERATIONS, ResultReason } from '../../ttlv/generated/enumerations.ts';
import { atLeast, type ProtocolVersion } from '../version.ts';

const R = ResultReason;

/**
 * The nearest older reason of each reason that some version lacks. Chains are followed
 * until a defined reason is reached; anything unmapped becomes General Failure (1.0), the
 * Result Message keeping the detail.
 *
 * The one pairing the OASIS vectors show directly: 2.1 Wrong Key Lifecycle State is 1.4
 * Permission Denied (AKLC-M-2, AKLC-M-3, SKLC-M-2/3, CS-BC-M-14, CS-AC-M-8 in both versions).
 * The rest follows the 1.x error tables (1.4 s.11) and reason descriptions (1.4 s.9.1.3.2.29):
 * missing things are Item Not Found; read-only attributes and refused actions Permission
 * Denied; an attribute that already exists, or an operation on an object of the wrong
 * type, Illegal Operation (1.4 s.11 Add Attribute, Activate); an Attribute Index naming no
 * instance Index Out of Bounds; bad request content Invalid Field; missing request content
 * Missing Data.
 */
const OLDER: ReadonlyMap<number, number> = new Map<number, number>([
  [R.WrongKeyLifecycleState, R.PermissionDenied],
  [R.ObjectNotFound, R.ItemNotFound],
  [R.ObjectDestroyed, R.ItemNotFound],
  [R.WrappingObjectNotFound, R.ItemNotFound],
  [R.WrappingObjectDestroyed, R.ItemNotFound],
  [R.WrappingObjectArchived, R.ObjectArchived],
  [R.AttributeNotFound, R.ItemNotFound],
  [R.AttributeInstanceNotFound, R.IndexOutOfBounds],
  [R.AttributeReadOnly, R.PermissionDenied],
  [R.ReadOnlyAttribute, R.PermissionDenied],
  [R.AttributeSingleValued, R.IllegalOperation],
  [R.MultiValuedAttribute, R.IllegalOperation],
  [R.IllegalObjectType, R.IllegalOperation],
  [R.InvalidObjectType, R.InvalidField],
  [R.InvalidAttribute, R.InvalidField],
  [R.InvalidAttributeValue, R.InvalidField],
  [R.UnsupportedAttribute, R.InvalidField],
  [R.InvalidDataType, R.InvalidField],
  [R.NumericRange, R.InvalidField],
  [R.UnknownEnumeration, R.InvalidField],
  [R.NonUniqueNameAttribute, R.InvalidField],
  [R.InvalidCSR, R.InvalidField],
  [R.InvalidCorrelationValue, R.InvalidField],
  [R.InvalidAsynchronousCorrelationValue, R.InvalidField],
  [R.MissingInitializationVector, R.MissingData],
  [R.BadCryptographicParameters, R.InvalidField],
  [R.ConstraintViolation, R.InvalidField],
  [R.UnsupportedCryptographicParameters, R.FeatureNotSupported],
  [R.KeyWrapTypeNotSupported, R.FeatureNotSupported],
  [R.UnknownMessageExtension, R.FeatureNotSupported],
  [R.EncodingOptionError, R.FeatureNotSupported],
  [R.UnknownTag, R.InvalidMessage],
  [R.CodecError, R.InvalidMessage],
  [R.UnsupportedProtocolVersion, R.InvalidMessage],
  [R.DuplicateProcessRequest, R.InvalidMessage],
  [R.IncompatibleCryptographicUsageMask, R.PermissionDenied],
  [R.UsageLimitExceeded, R.PermissionDenied],
  [R.NotAuthorised, R.PermissionDenied],
  [R.InvalidTicket, R.AuthenticationNotSuccessful],
  [R.BadPassword, R.AuthenticationNotSuccessful],
  [R.AttestationRequired, R.PermissionDenied],
  [R.AttestationFailed, R.PermissionDenied],
  [R.Sensitive, R.PermissionDenied],
  [R.NotExtractable, R.PermissionDenied],
  [R.ObjectAlreadyExists, R.InvalidField],
  [R.KeyValueNotPresent, R.ItemNotFound],
  [R.UnknownObjectGroup, R.ItemNotFound],
  [R.ProtectionStorageUnavailable, R.GeneralFailure],
  [R.PrivateProtectionStorageUnavailable, R.ProtectionStorageUnavailable],
  [R.PublicProtectionStorageUnavailable, R.ProtectionStorageUnavailable],
  [R.ServerLimitExceeded, R.GeneralFailure],
  // 1.x reasons that 2.0 made Reserved, for 2.x clients. Illegal Operation was the 1.x
  // answer to an operation the object's state forbids, which 2.x names Wrong Key Lifecycle
  // State.
  [R.IndexOutOfBounds, R.AttributeInstanceNotFound],
  [R.IllegalOperation, R.WrongKeyLifecycleState],
]);

const INFO = new Map<number, { since: string; removed?: string }>(
  Object.entries(ENUMERATIONS.ResultReason!.values).map(([k, val]) => [val, ENUMERATIONS.ResultReason!.valueInfo[k]!]),
);

function defined(reason: number, v: ProtocolVersion): boolean {
  if (reason >>> 28 === 0x8) return true; // extension values belong to their vendor
  const i = INFO.get(reason);
  return i !== undefined && atLeast(v, i.since) && (i.removed === undefined || !atLeast(v, i.removed));
}

/** The Result Reason to send a client of version `v` for `reason`. */
export function resultReasonForVersion(reason: number, v: ProtocolVersion): number {
  let r = reason;
  for (let hops = 0; hops < 4; hops++) {
    if (defined(r, v)) return r;
    const next = OLDER.get(r);
    if (next === undefined) break;
    r = next;
  }
  return R.GeneralFailure;
}
