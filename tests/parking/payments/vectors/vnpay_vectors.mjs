// Regenerates vnpay_vectors.json with an independent implementation of VNPAY's signing: the npm
// package `vnpay` (lehuygiang28/vnpay), not our code. Run from a folder where `npm install vnpay@2.5.0`
// was done:  node vnpay_vectors.mjs > vnpay_vectors.json
import { VNPay } from "vnpay";
import { buildPaymentUrlSearchParams, hash } from "vnpay/utils";

const secret = "VNPAYVECTORSECRET0123456789ABCDE";
const base = {
  vnp_Amount: "8500000",
  vnp_BankCode: "NCB",
  vnp_BankTranNo: "FT26335123456789",
  vnp_CardType: "QRCODE",
  vnp_OrderInfo: "Thanh toan gui xe PK7F3K9Q2M",
  vnp_PayDate: "20261201103000",
  vnp_ResponseCode: "00",
  vnp_TmnCode: "PARKSIM1",
  vnp_TransactionNo: "14226112",
  vnp_TransactionStatus: "00",
  vnp_TxnRef: "PK7F3K9Q2M",
};
const cases = {
  plain: base,
  star_and_tilde: { ...base, vnp_OrderInfo: "Gui xe *30A-123.45* ~2h~ (ve luot)!" },
  empty_values: { ...base, vnp_BankTranNo: "", vnp_CardType: "" },
  reserved_chars: { ...base, vnp_OrderInfo: "a+b=c&d/e:f?g#h%i'j\"k" },
  vietnamese_utf8: { ...base, vnp_OrderInfo: "Thanh toán gửi xe ô tô" },
};
const vnpay = new VNPay({ tmnCode: "PARKSIM1", secureSecret: secret, vnpayHost: "https://sandbox.vnpayment.vn" });
const out = { library: "vnpay (npm) 2.5.0", secret, cases: [] };
for (const [name, params] of Object.entries(cases)) {
  const signData = buildPaymentUrlSearchParams(params).toString();
  const secureHash = hash(secret, Buffer.from(signData, "utf-8"), "SHA512");
  const check = vnpay.verifyIpnCall({ ...params, vnp_SecureHash: secureHash });
  if (!check.isVerified) throw new Error(`library does not verify its own vector ${name}`);
  out.cases.push({ name, params, sign_data: signData, secure_hash: secureHash });
}
console.log(JSON.stringify(out, null, 2));
