import test from 'ava';
import { isValidWireCloseCode } from '../../src/protocol/close-codes.js';

test('defined and application close codes are valid on the wire', (t) => {
  for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]) {
    t.true(isValidWireCloseCode(code), String(code));
  }
});

test('reserved, local-only and out-of-range close codes are invalid on the wire', (t) => {
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]) {
    t.false(isValidWireCloseCode(code), String(code));
  }
});
