// Derives the indexed columns of a stored object from its 2.1 Attributes children.
// The attributes blob stays the source of truth; these columns only exist so that
// Locate (KMIP 2.1 §6.1.28) can narrow its candidates in SQL before the exact matching
// of the operation runs. Anything that does not look like the attribute we expect
// (wrong item type, Name without Name Value) is not indexed rather than guessed: the
// operations validate attributes before they are stored, so this only concerns data that
// a bug or a hand edit put there.
import { Tag } from '../ttlv/generated/tags.ts';
import type { TtlvItem } from '../ttlv/types.ts';

/** Single-valued columns of the objects table, in the order of DATE_COLUMNS below. */
export interface IndexColumns {
  cryptographicAlgorithm: number | null;
  cryptographicLength: number | null;
  /** Dates as POSIX seconds (KMIP 2.1 §10.1.2 Date-Time). */
  initialDate: number | null;
  activationDate: number | null;
  deactivationDate: number | null;
  processStartDate: number | null;
  protectStopDate: number | null;
  compromiseDate: number | null;
  destroyDate: number | null;
  lastChangeDate: number | null;
  /** Every Name Value of the object (Name is multi-instance, KMIP 2.1 §4.41). */
  names: string[];
  /** Every Object Group of the object (multi-instance, KMIP 2.1 §4.44). */
  groups: string[];
}

/** Column name ↔ date attribute tag. Shared with the SQL so the two cannot drift apart. */
export const DATE_COLUMNS = [
  ['initial_date', 'initialDate', Tag.InitialDate],
  ['activation_date', 'activationDate', Tag.ActivationDate],
  ['deactivation_date', 'deactivationDate', Tag.DeactivationDate],
  ['process_start_date', 'processStartDate', Tag.ProcessStartDate],
  ['protect_stop_date', 'protectStopDate', Tag.ProtectStopDate],
  ['compromise_date', 'compromiseDate', Tag.CompromiseDate],
  ['destroy_date', 'destroyDate', Tag.DestroyDate],
  ['last_change_date', 'lastChangeDate', Tag.LastChangeDate],
] as const;

type DateKey = (typeof DATE_COLUMNS)[number][1];
const DATE_KEY_BY_TAG = new Map<number, DateKey>(DATE_COLUMNS.map(([, key, tag]) => [tag, key]));

/** Date-Time values are bigint seconds; SQLite INTEGER holds them exactly as a JS number for any real date. */
function dateSeconds(v: bigint): number | null {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : null;
}

export function deriveIndexColumns(attributes: readonly TtlvItem[]): IndexColumns {
  const out: IndexColumns = {
    cryptographicAlgorithm: null,
    cryptographicLength: null,
    initialDate: null,
    activationDate: null,
    deactivationDate: null,
    processStartDate: null,
    protectStopDate: null,
    compromiseDate: null,
    destroyDate: null,
    lastChangeDate: null,
    names: [],
    groups: [],
  };
  for (const a of attributes) {
    switch (a.tag) {
      case Tag.Name:
        if (a.type === 'Structure') {
          for (const c of a.value) {
            if (c.tag === Tag.NameValue && c.type === 'TextString') out.names.push(c.value);
          }
        }
        break;
      case Tag.ObjectGroup:
        if (a.type === 'TextString') out.groups.push(a.value);
        break;
      // Single-instance attributes (KMIP 2.1 §4.10, §4.13): the first instance wins, as the
      // attribute rules of the operations never allow a second one.
      case Tag.CryptographicAlgorithm:
        if (a.type === 'Enumeration' && out.cryptographicAlgorithm === null) out.cryptographicAlgorithm = a.value;
        break;
      case Tag.CryptographicLength:
        if (a.type === 'Integer' && out.cryptographicLength === null) out.cryptographicLength = a.value;
        break;
      default: {
        const key = DATE_KEY_BY_TAG.get(a.tag);
        if (key !== undefined && a.type === 'DateTime' && out[key] === null) out[key] = dateSeconds(a.value);
      }
    }
  }
  return out;
}
