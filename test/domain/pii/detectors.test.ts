/**
 * Each PII detector on its own, inside workerd (so libphonenumber-js, card-validator, ibantools and ipaddr.js are
 * shown to load and run in the Workers runtime): true positives in written and spoken forms, and the hard negatives
 * each validator exists to refuse.
 */
import { describe, expect, it } from "vitest";

import { isValidCardNumber, luhnValid } from "../../../src/domain/pii/credit-card.ts";
import { isPlausibleBirthDate } from "../../../src/domain/pii/date-of-birth.ts";
import { detectPii } from "../../../src/domain/pii/detect.ts";
import { isValidEmailAddress } from "../../../src/domain/pii/email.ts";
import { normaliseSpokenNumbers } from "../../../src/domain/pii/spoken-numbers.ts";
import { isValidSsn } from "../../../src/domain/pii/ssn.ts";
import type { PiiEntityType } from "../../../src/domain/pii/types.ts";

/** The substrings `detectPii` finds for one type. */
function found(text: string, type: PiiEntityType): string[] {
  return detectPii(text, [type]).map((s) => text.slice(s.start, s.end));
}

describe("spoken numbers", () => {
  it.each([
    ["four one one one one one one one one one one one one one one one", "4111111111111111"],
    ["five five five, one two three, four five six seven", "555 123 4567"],
    ["double five oh two", "5502"],
    ["triple nine", "999"],
    ["nineteen seventy six", "1976"],
    ["two thousand and five", "2005"],
    ["nineteen hundred and ninety nine", "1999"],
    ["eight hundred five five five one two one two", "8005551212"],
    ["july twelfth nineteen seventy six", "july 12 1976"],
    ["the twenty first of may", "the 21 of may"],
    ["one nine two dot one six eight dot zero dot one", "192.168.0.1"],
    ["twenty-three people", "23 people"],
  ])("%s → %s", (spoken, written) => {
    expect(normaliseSpokenNumbers(spoken).text).toBe(written);
  });

  it("keeps a lone 'oh' and words that are not numbers, and maps every digit back to its words", () => {
    const text = "Oh, I see. Call four one five now";
    const n = normaliseSpokenNumbers(text);
    expect(n.text).toBe("Oh, I see. Call 415 now");
    const at = n.text.indexOf("415");
    expect(text.slice(n.starts[at]!, n.ends[at + 2]!)).toBe("four one five");
  });
});

describe("email_address", () => {
  it("finds written and spoken addresses", () => {
    expect(found("write to jane.doe+calls@example.co.uk today.", "email_address")).toEqual([
      "jane.doe+calls@example.co.uk",
    ]);
    expect(found("it's john dot smith at gmail dot com, thanks", "email_address")).toEqual([
      "john dot smith at gmail dot com",
    ]);
  });
  it("refuses malformed addresses", () => {
    for (const bad of ["a..b@example.com", ".a@example.com", "a@-example.com", "a@example.c0m", "a@example"])
      expect(isValidEmailAddress(bad), bad).toBe(false);
    expect(found("ping me @ noon at the office dot", "email_address")).toEqual([]);
    expect(found("the handle is @support and the site example.com", "email_address")).toEqual([]);
  });
});

describe("phone_number", () => {
  it("finds national, international and spoken numbers", () => {
    expect(found("call (415) 555-2671 or +44 20 7946 0958", "phone_number")).toEqual([
      "(415) 555-2671",
      "+44 20 7946 0958",
    ]);
    expect(found("my number is four one five, five five five, two six seven one", "phone_number")).toEqual([
      "four one five, five five five, two six seven one",
    ]);
    expect(found("the office is on 020 7946 0958", "phone_number")).toEqual(["020 7946 0958"]);
  });
  it("refuses serials, short numbers and numbers no region uses", () => {
    expect(found("serial number 4155552671", "phone_number")).toEqual([]);
    expect(found("order 2025550143 shipped", "phone_number")).toEqual([]);
    expect(found("room 4155", "phone_number")).toEqual([]);
    expect(found("call 123-456-7890", "phone_number")).toEqual([]);
  });
});

describe("credit_card_number", () => {
  it("checks Luhn and issuer ranges", () => {
    expect(luhnValid("4111111111111111")).toBe(true);
    expect(luhnValid("4111111111111112")).toBe(false);
    expect(isValidCardNumber("378282246310005")).toBe(true); // Amex, 15 digits
    expect(isValidCardNumber("5555555555554444")).toBe(true); // Mastercard
    expect(isValidCardNumber("1234567812345670")).toBe(false); // Luhn-valid, no issuer starts with 1
    expect(isValidCardNumber("411111111111")).toBe(false); // a Visa prefix at a length Visa does not use
  });
  it("finds grouped and spoken card numbers, not order numbers failing Luhn", () => {
    expect(found("card 4111-1111-1111-1111 please", "credit_card_number")).toEqual(["4111-1111-1111-1111"]);
    expect(
      found(
        "it's five five five five, five five five five, five five five five, four four four four",
        "credit_card_number",
      ),
    ).toEqual(["five five five five, five five five five, five five five five, four four four four"]);
    expect(found("order 4111 1111 1111 1112 shipped", "credit_card_number")).toEqual([]);
  });
});

describe("iban", () => {
  it("finds grouped and compact IBANs that pass mod-97 and the country's length", () => {
    expect(found("pay to GB82 WEST 1234 5698 7654 32 today", "iban")).toEqual(["GB82 WEST 1234 5698 7654 32"]);
    expect(found("IBAN DE89370400440532013000.", "iban")).toEqual(["DE89370400440532013000"]);
  });
  it("refuses a wrong check digit, a wrong length and unknown countries", () => {
    expect(found("GB83 WEST 1234 5698 7654 32", "iban")).toEqual([]);
    expect(found("DE8937040044053201300", "iban")).toEqual([]);
    expect(found("XX82 WEST 1234 5698 7654 32", "iban")).toEqual([]);
  });
});

describe("us_social_security_number", () => {
  it("applies the area, group and serial rules", () => {
    expect(isValidSsn("123456789")).toBe(true);
    for (const bad of ["000123456", "666123456", "900123456", "123001234", "123450000", "078051120"])
      expect(isValidSsn(bad), bad).toBe(false);
  });
  it("takes 3-2-4 groups alone, nine bare digits only after a cue", () => {
    expect(found("it is 123-45-6789.", "us_social_security_number")).toEqual(["123-45-6789"]);
    expect(found("account 123456789", "us_social_security_number")).toEqual([]);
    expect(found("my social is one two three four five six seven eight nine", "us_social_security_number")).toEqual([
      "one two three four five six seven eight nine",
    ]);
    expect(found("not 666-45-6789 nor 123-45/6789", "us_social_security_number")).toEqual([]);
  });
});

describe("ip_address", () => {
  it("finds IPv4 and IPv6, written and spoken", () => {
    expect(found("from 203.0.113.7 and 2001:db8::8a2e:370:7334.", "ip_address")).toEqual([
      "203.0.113.7",
      "2001:db8::8a2e:370:7334",
    ]);
    expect(found("connect to one nine two dot one six eight dot zero dot one", "ip_address")).toEqual([
      "one nine two dot one six eight dot zero dot one",
    ]);
  });
  it("refuses version strings, out-of-range parts and clock times", () => {
    expect(found("upgrade to version 10.2.0.1 today", "ip_address")).toEqual([]);
    expect(found("v1.2.3.4", "ip_address")).toEqual([]);
    expect(found("256.1.1.1 and 1.2.3", "ip_address")).toEqual([]);
    expect(found("at 10:30:00 sharp", "ip_address")).toEqual([]);
  });
});

describe("date_of_birth", () => {
  it("checks the calendar and the year", () => {
    expect(isPlausibleBirthDate(29, 2, 2000)).toBe(true);
    expect(isPlausibleBirthDate(29, 2, 1999)).toBe(false);
    expect(isPlausibleBirthDate(31, 4, 1980)).toBe(false);
    expect(isPlausibleBirthDate(1, 1, 1850)).toBe(false);
    expect(isPlausibleBirthDate(1, 1, 2999)).toBe(false);
  });
  it("takes a date next to a birth cue, in numeric, written and spoken forms", () => {
    expect(found("I was born on July 12th, 1976.", "date_of_birth")).toEqual(["July 12th, 1976"]);
    expect(found("date of birth 1985-03-04", "date_of_birth")).toEqual(["1985-03-04"]);
    expect(found("DOB: 04/03/1985", "date_of_birth")).toEqual(["04/03/1985"]);
    expect(found("born the twelfth of july nineteen seventy six", "date_of_birth")).toEqual([
      "twelfth of july nineteen seventy six",
    ]);
    expect(found("my birthday is March 3", "date_of_birth")).toEqual(["March 3"]);
  });
  it("refuses dates that are not births", () => {
    expect(found("the invoice is due on July 12, 2024", "date_of_birth")).toEqual([]);
    expect(found("I was born in Ohio. We met on 03/04/2021.", "date_of_birth")).toEqual([]);
    expect(found("born on February 30, 1980", "date_of_birth")).toEqual([]);
  });
});

describe("person_name and provider labels", () => {
  it("maps the labels a provider wrote to our types", () => {
    const text = "Hi [NAME_GIVEN_1] [NAME_FAMILY_1], your card [CREDIT_CARD_1] and [SSN_2] and [CVV_1]";
    expect(detectPii(text, ["person_name", "credit_card_number", "us_social_security_number"])).toEqual([
      { type: "person_name", start: 3, end: 17 },
      { type: "person_name", start: 18, end: 33 },
      { type: "credit_card_number", start: 45, end: 60 },
      { type: "us_social_security_number", start: 65, end: 72 },
    ]);
  });
  it("finds no names of its own", () => {
    expect(detectPii("John Smith called", ["person_name"])).toEqual([]);
  });
});

describe("policies", () => {
  it("runs only the selected detectors", () => {
    const text = "mail a@example.com or call (415) 555-2671";
    expect(detectPii(text, ["phone_number"]).map((s) => s.type)).toEqual(["phone_number"]);
    expect(detectPii(text, ["email_address"]).map((s) => s.type)).toEqual(["email_address"]);
  });
});
