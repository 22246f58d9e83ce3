/**
 * The Windows PowerShell script that marks stubs offline, for the helper process that
 * offlineMarker.ts starts once per act run.
 *
 * The protocol has one line each way per stub. The request is the path as base64 of its
 * UTF-16LE code units, and the reply is `ok` or `error <message>`. Replies come in the
 * order of the requests. The helper exits when its standard input ends.
 *
 * Why the work is in C# compiled by Add-Type rather than in PowerShell:
 * - [IO.File]::SetAttributes on .NET Framework normalises paths unless the application
 *   opts into long-path handling, and normalising drops trailing dots and spaces, so
 *   `notes.` would name `notes`. The Win32 calls take the agent's `\\?\` path as it is.
 * - Encoding.Unicode.GetString replaces unpaired surrogates with U+FFFD. Copying the
 *   decoded bytes into a char array keeps every code unit, so names that are not valid
 *   Unicode reach the file system unchanged.
 * - Replies are written as UTF-8 bytes to the raw output stream, so a localised Win32
 *   message survives whatever code page the console has.
 * NOTE: Add-Type compiles with the C# 5 compiler of .NET Framework 4, so the source
 * avoids later syntax. The tests compile it with Mono's mcs in C# 5 mode, but it has
 * never run on Windows.
 */
import { OFFLINE_ATTRIBUTE, STUB_SIZE_BYTES } from './stub.ts';

/** C# source of the helper's request loop, compiled by Add-Type at start. */
export const OFFLINE_HELPER_CSHARP = `using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using FILETIME = System.Runtime.InteropServices.ComTypes.FILETIME;

public static class StrataOfflineHelper
{
    const uint FileAttributeDirectory = 0x10;
    const uint FileAttributeNormal = 0x80;
    const uint FileAttributeReparsePoint = 0x400;
    const uint FileAttributeOffline = 0x${OFFLINE_ATTRIBUTE.toString(16)};
    const long StubSizeBytes = ${STUB_SIZE_BYTES};

    // The layout of WIN32_FILE_ATTRIBUTE_DATA. FILETIME is two 32-bit halves, so no field is padded.
    [StructLayout(LayoutKind.Sequential)]
    struct FileAttributeData
    {
        public uint Attributes;
        public FILETIME CreationTime;
        public FILETIME LastAccessTime;
        public FILETIME LastWriteTime;
        public uint SizeHigh;
        public uint SizeLow;
    }

    [DllImport("kernel32.dll", CharSet = CharSet.Unicode, SetLastError = true)]
    static extern bool GetFileAttributesExW(string name, int infoLevel, out FileAttributeData data);

    [DllImport("kernel32.dll", CharSet = CharSet.Unicode, SetLastError = true)]
    static extern bool SetFileAttributesW(string name, uint attributes);

    public static void Run()
    {
        StreamReader input = new StreamReader(Console.OpenStandardInput(), Encoding.ASCII);
        StreamWriter output = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false));
        output.NewLine = "\\n";
        output.AutoFlush = true;

        string line;
        while ((line = input.ReadLine()) != null)
        {
            output.WriteLine(Reply(line));
        }
    }

    static string Reply(string request)
    {
        string path;
        try
        {
            path = DecodePath(request);
        }
        catch (FormatException error)
        {
            return "error invalid request, expected base64 of UTF-16LE: " + OneLine(error.Message);
        }
        return Mark(path);
    }

    static string DecodePath(string request)
    {
        byte[] bytes = Convert.FromBase64String(request);
        if (bytes.Length % 2 != 0)
        {
            throw new FormatException("odd number of bytes");
        }
        char[] units = new char[bytes.Length / 2];
        Buffer.BlockCopy(bytes, 0, units, 0, bytes.Length);
        return new string(units);
    }

    // Sets the offline bit of a file that is still a stub. The size check keeps a file
    // that replaced the stub since the agent wrote it from being marked.
    static string Mark(string path)
    {
        FileAttributeData data;
        if (!GetFileAttributesExW(path, 0, out data))
        {
            return Win32Failure("GetFileAttributesExW");
        }
        if ((data.Attributes & (FileAttributeDirectory | FileAttributeReparsePoint)) != 0)
        {
            return "error the path is no longer a stub: it is a folder or a link";
        }
        long size = ((long)data.SizeHigh << 32) | data.SizeLow;
        if (size != StubSizeBytes)
        {
            return "error the file is no longer a stub: it has " + size + " bytes, a stub has " + StubSizeBytes;
        }
        if ((data.Attributes & FileAttributeOffline) != 0)
        {
            return "ok";
        }

        // NORMAL is valid only alone (SetFileAttributesW documentation). The other bits go
        // back as read, as .NET's File.SetAttributes(p, File.GetAttributes(p) | Offline) does.
        uint attributes = (data.Attributes & ~FileAttributeNormal) | FileAttributeOffline;
        if (!SetFileAttributesW(path, attributes))
        {
            return Win32Failure("SetFileAttributesW");
        }
        return "ok";
    }

    // The message comes from mscorlib alone, so Add-Type needs no referenced assembly.
    static string Win32Failure(string call)
    {
        int code = Marshal.GetLastWin32Error();
        Exception error = Marshal.GetExceptionForHR(Marshal.GetHRForLastWin32Error());
        string message = error == null ? "no message" : OneLine(error.Message);
        return "error " + call + " failed with Win32 error " + code + ": " + message;
    }

    static string OneLine(string text)
    {
        return text.Replace('\\r', ' ').Replace('\\n', ' ').Trim();
    }
}
`;

/**
 * The PowerShell script. It stops at the first error, so a failed Add-Type ends the
 * process with its message on stderr. It keeps progress and warning records off standard
 * output, which carries only replies, and runs the loop.
 */
export const OFFLINE_HELPER_SCRIPT = `$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$WarningPreference = 'SilentlyContinue'
Add-Type -IgnoreWarnings -TypeDefinition @'
${OFFLINE_HELPER_CSHARP}'@
[StrataOfflineHelper]::Run()
`;

/**
 * Arguments for powershell.exe. The script goes as -EncodedCommand (base64 of UTF-16LE)
 * rather than as -Command text. It then reaches PowerShell unchanged, whatever quotes and
 * line breaks it contains, with no Windows command-line quoting in between. Encoded, it
 * makes the command line about 12,000 characters long, and CreateProcess takes 32,767.
 */
export function powerShellArguments(script: string = OFFLINE_HELPER_SCRIPT): string[] {
  return [
    '-NoLogo',
    '-NoProfile',
    '-NonInteractive',
    '-ExecutionPolicy',
    'Bypass',
    '-EncodedCommand',
    Buffer.from(script, 'utf16le').toString('base64'),
  ];
}
