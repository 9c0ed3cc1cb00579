export * from './types.ts';
export * from './errors.ts';
export * from './limits.ts';
export { decode, type DecodeOptions, tagLabel, isValidTag } from './decode.ts';
export { encode, bigIntToTwosComplement } from './encode.ts';
export { TtlvFramer, FrameTooLargeError, HEADER_SIZE } from './framing.ts';
export * from './generated/index.ts';
export { fromXml, toXml, type ToXmlOptions } from './xml.ts';
export { fromJson, toJson, toJsonValue, fromJsonValue, type ToJsonOptions } from './json.ts';
export {
  tagName, tagFromName, tagForAttributeName, domainForTag, domainByName, domainInContext, formatEnumeration,
  parseEnumeration, formatMask, parseMask, formatDateTime, formatDateTimeExtended, type ValueDomain,
} from './names.ts';
