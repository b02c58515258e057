/**
 * The labelled PII corpus: sentences as a transcript would render them, each with the entities it holds (type and
 * the exact substring). True positives in written and spoken forms, and hard negatives (order numbers failing Luhn,
 * version strings, dates that are not births, phone-like serials, invalid SSN areas, IBANs with a wrong check digit).
 * Built from templates × values written for this benchmark; `run.ts` scores the detectors against it.
 */
import type { PiiEntityType } from "../../src/domain/pii/index.ts";

export interface LabelledSentence {
  text: string;
  entities: { type: PiiEntityType; value: string }[];
}

const positive = (type: PiiEntityType, templates: string[], values: string[]): LabelledSentence[] =>
  templates.flatMap((t) => values.map((value) => ({ text: t.replace("{}", value), entities: [{ type, value }] })));
/** Hard negatives: each template with each value (every pairing reads as a sentence that holds no entity). */
const negative = (templates: string[], values: string[]): LabelledSentence[] =>
  templates.flatMap((t) => values.map((value) => ({ text: t.replace("{}", value), entities: [] })));

export const CORPUS: LabelledSentence[] = [
  ...positive(
    "email_address",
    ["You can email me at {} any time.", "My address is {}, thanks.", "Send the contract to {}", "Reply to {} please."],
    [
      "jane.doe@example.com",
      "j.smith+billing@mail.example.co.uk",
      "support_team@acme-corp.io",
      "x99@sub.domain.org",
      "john dot smith at gmail dot com",
      "maria underscore lopez at outlook dot com",
      "bob at example dot net",
      "first.last@university.edu",
    ],
  ),
  ...negative(
    ["Our handle is {} on the site.", "The note said {} and nothing else.", "I wrote {} on the board."],
    ["@support", "report@2024.pdf", "meet at noon dot", "example.com", "a..b@example.com", "name at company"],
  ),
  ...positive(
    "phone_number",
    [
      "Call me on {} tomorrow.",
      "My number is {}.",
      "You can reach the office at {}, ask for Sam.",
      "Text {} when you land.",
    ],
    [
      "(415) 555-2671",
      "415-555-2671",
      "+1 415 555 2671",
      "+44 20 7946 0958",
      "020 7946 0958",
      "+49 30 901820",
      "four one five, five five five, two six seven one",
      "eight hundred five five five one two one two",
      "two oh two, five five five, oh one four three",
      "+33 1 42 68 53 00",
    ],
  ),
  ...negative(
    [
      "The serial number is {}.",
      "Your order {} has shipped.",
      "Tracking number {} is on its way.",
      "Part {} is in stock.",
    ],
    ["4155552671", "2025550143", "1234567890", "4155", "123-456-7890", "2125550199"],
  ),
  ...positive(
    "credit_card_number",
    ["My card number is {}.", "Please charge {} for the order.", "It's {}, expiry next year.", "Card {} was declined."],
    [
      "4111 1111 1111 1111",
      "4111-1111-1111-1111",
      "5555555555554444",
      "3782 822463 10005",
      "6011 1111 1111 1117",
      "four one one one one one one one one one one one one one one one",
      "five five five five five five five five five five five five four four four four",
      "4012888888881881",
    ],
  ),
  ...negative(
    ["Order number {} was refunded.", "Reference {} in the ledger.", "The parcel id is {}.", "Batch {} is ready."],
    ["4111 1111 1111 1112", "1234 5678 1234 5678", "5555555555554445", "1234567812345670"],
  ),
  ...positive(
    "iban",
    ["Pay it to {} please.", "My IBAN is {}.", "Transfer to account {} by Friday.", "Refund to {} was sent."],
    [
      "GB82 WEST 1234 5698 7654 32",
      "DE89370400440532013000",
      "DE89 3704 0044 0532 0130 00",
      "FR14 2004 1010 0505 0001 3M02 606",
      "NL91ABNA0417164300",
      "ES9121000418450200051332",
    ],
  ),
  ...negative(
    ["The code is {}.", "Ticket {} was closed.", "Use voucher {} at checkout.", "Plate {} was seen."],
    ["GB83 WEST 1234 5698 7654 32", "DE8937040044053201300", "XX82 WEST 1234 5698 7654 32", "AB12 CDEF"],
  ),
  ...positive(
    "us_social_security_number",
    ["My social security number is {}.", "The SSN on file is {}.", "Social security: {}, as on my card."],
    [
      "123-45-6789",
      "219-45-1234",
      "123 45 6789",
      "one two three four five six seven eight nine",
      "five five five two two one one one one",
      "078-12-4567",
    ],
  ),
  ...negative(
    ["The account number is {}.", "Invoice {} is overdue.", "Ticket {} was escalated.", "Lot {} passed QA."],
    ["123456789", "666-45-6789", "900-12-3456", "123-00-4567", "123-45-0000"],
  ),
  ...positive(
    "ip_address",
    [
      "The request came from {}.",
      "Connect to {} on port 22.",
      "Block address {} at the firewall.",
      "The meeting host was {} again.",
    ],
    [
      "203.0.113.7",
      "192.168.1.10",
      "10.0.0.254",
      "2001:db8::8a2e:370:7334",
      "fe80::1ff:fe23:4567:890a",
      "one nine two dot one six eight dot zero dot one",
    ],
  ),
  ...negative(
    ["Please upgrade to version {} today.", "We shipped build {} last night.", "The firmware {} fixed it."],
    ["10.2.0.1", "1.2.3.4", "2.0.0.1", "256.1.1.1", "10:30:00", "v1.2.3.4"],
  ),
  ...positive(
    "date_of_birth",
    ["I was born on {}.", "My date of birth is {}.", "DOB: {}, please check.", "His birthday is {} and he likes cake."],
    [
      "July 12th, 1976",
      "12 July 1976",
      "1985-03-04",
      "04/03/1985",
      "the twelfth of july nineteen seventy six",
      "March 3, 2001",
      "february twenty ninth two thousand",
    ],
  ),
  ...negative(
    [
      "The invoice is due on {}.",
      "We met on {} in Paris.",
      "The release ships {}.",
      "I was born in Ohio and moved on {}.",
    ],
    ["July 12, 2024", "03/04/2021", "2025-01-15", "the first of May"],
  ),
  ...positive(
    "person_name",
    ["Hello, this is {} speaking.", "Please ask for {} at the desk."],
    ["[NAME_1]", "[NAME_GIVEN_1]", "[NAME_FAMILY_2]"],
  ),
  ...negative(["Hello, this is {} speaking.", "The {} plan covers it."], ["the support team", "Premium"]),
  // several entities in one sentence
  {
    text: "Call (415) 555-2671 or email jane.doe@example.com about card 4111 1111 1111 1111.",
    entities: [
      { type: "phone_number", value: "(415) 555-2671" },
      { type: "email_address", value: "jane.doe@example.com" },
      { type: "credit_card_number", value: "4111 1111 1111 1111" },
    ],
  },
  {
    text: "I was born on 4 July 1976 and my SSN is 123-45-6789.",
    entities: [
      { type: "date_of_birth", value: "4 July 1976" },
      { type: "us_social_security_number", value: "123-45-6789" },
    ],
  },
];
