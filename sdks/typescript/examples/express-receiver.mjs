// A push receiver on Express (npm install express @chronos.sh/sdk):
//   CHRONOS_SIGNING_SECRET=… node express-receiver.mjs
// then push jobs to http://your-host:3000/hooks/chronos.
import express from 'express';
import { InvalidSignature, verifyWebhook } from '@chronos.sh/sdk';

const app = express();
const secret = process.env.CHRONOS_SIGNING_SECRET;

// express.raw keeps the body as the bytes Chronos signed (express.json would re-encode it).
app.post('/hooks/chronos', express.raw({ type: '*/*' }), async (req, res, next) => {
  try {
    await verifyWebhook(req.body, req.headers, secret);
  } catch (error) {
    if (error instanceof InvalidSignature) return res.status(401).send(error.message);
    return next(error);
  }
  const job = JSON.parse(req.body.toString('utf8'));
  console.log(`job ${job.job_id} (attempt ${job.attempt})`, job.payload);
  res.json({ ok: true }); // 2xx completes the job; 5xx makes Chronos retry
});

app.listen(3000, () => console.log('listening on http://localhost:3000/hooks/chronos'));
