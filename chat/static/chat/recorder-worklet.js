// The recorder's AudioWorklet: the microphone as 16-bit little-endian mono PCM at the context's rate
// (16 kHz: the page asks for it), posted in chunks of about 100 ms with the chunk's level for the meter.
class PcmRecorder extends AudioWorkletProcessor {
  constructor() {
    super();
    this.size = Math.round(sampleRate / 10);
    this.buffer = new Int16Array(this.size);
    this.filled = 0;
    this.sumSquares = 0;
    this.port.onmessage = (event) => {
      if (event.data === "flush") {
        this.post(true);
      }
    };
  }

  post(last) {
    const samples = this.buffer.slice(0, this.filled);
    const level = this.filled ? Math.min(1, Math.sqrt(this.sumSquares / this.filled) * 4) : 0;
    this.port.postMessage({ pcm: samples.buffer, level: level, last: last }, [samples.buffer]);
    this.filled = 0;
    this.sumSquares = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) {
      for (let i = 0; i < channel.length; i += 1) {
        const value = Math.max(-1, Math.min(1, channel[i]));
        this.buffer[this.filled] = value < 0 ? value * 0x8000 : value * 0x7fff;
        this.sumSquares += value * value;
        this.filled += 1;
        if (this.filled === this.size) this.post(false);
      }
    }
    return true;
  }
}

registerProcessor("pcm-recorder", PcmRecorder);
