import { writeFile } from "node:fs/promises"
import { artifactPath } from "./chromium.ts"

const SAMPLE_RATE = 48_000

/**
 * Writes a WAV file of synthetic "speech" for Chromium's fake microphone
 * (`--use-file-for-fake-audio-capture`): a voiced buzz whose pitch glides and whose loudness
 * rises and falls at syllable rate, loud enough (peaks near full scale) to rank as an active
 * speaker. Chromium's own fake microphone beeps briefly once a second, which averages out as
 * too quiet. Deterministic: the same bytes every time.
 */
export const writeSpeechLikeWav = async (name = "fake-speech.wav", seconds = 4): Promise<string> => {
  const samples = SAMPLE_RATE * seconds
  const data = Buffer.alloc(samples * 2)
  let phase = 0
  for (let i = 0; i < samples; i++) {
    const t = i / SAMPLE_RATE
    const pitch = 150 + 50 * Math.sin(2 * Math.PI * 0.7 * t)
    phase += (2 * Math.PI * pitch) / SAMPLE_RATE
    let voiced = 0
    for (let harmonic = 1; harmonic <= 8; harmonic++) voiced += Math.sin(harmonic * phase) / harmonic
    const envelope = 0.55 + 0.45 * Math.sin(2 * Math.PI * 4 * t) ** 2
    const sample = Math.max(-1, Math.min(1, 0.5 * voiced * envelope))
    data.writeInt16LE(Math.round(sample * 32_767), i * 2)
  }
  const header = Buffer.alloc(44)
  header.write("RIFF", 0, "ascii")
  header.writeUInt32LE(36 + data.length, 4)
  header.write("WAVE", 8, "ascii")
  header.write("fmt ", 12, "ascii")
  header.writeUInt32LE(16, 16) // PCM chunk size
  header.writeUInt16LE(1, 20) // PCM
  header.writeUInt16LE(1, 22) // mono
  header.writeUInt32LE(SAMPLE_RATE, 24)
  header.writeUInt32LE(SAMPLE_RATE * 2, 28) // byte rate
  header.writeUInt16LE(2, 32) // block align
  header.writeUInt16LE(16, 34) // bits per sample
  header.write("data", 36, "ascii")
  header.writeUInt32LE(data.length, 40)
  const path = await artifactPath(name)
  await writeFile(path, Buffer.concat([header, data]))
  return path
}
