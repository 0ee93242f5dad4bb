; Inno Setup script: the Windows installer of Doorstep (see docs/packaging.md).
;
; Installs the PyInstaller onedir folder that `python build/build.py` leaves in dist\doorstep\
; for the current user only: no administrator rights, no UAC prompt, into
; %LOCALAPPDATA%\Programs\Doorstep, with a Start-menu shortcut and an uninstaller (Settings >
; Apps). Files an installer writes carry no Mark-of-the-Web, unlike those Explorer extracts
; from a downloaded .zip. The user's data (%LOCALAPPDATA%\Doorstep) is never touched, by the
; installer nor by the uninstaller.
;
; The hosted workflow (.github/workflows/build.yml) builds it with Inno Setup 6.3 or newer:
;   ISCC /DAppVersion=0.1.0 build\doorstep.iss
; which writes dist\doorstep-0.1.0-windows-x86_64-setup.exe. Relative paths below are relative
; to this file's folder (build\).

#ifndef AppVersion
  #error Pass the version: ISCC /DAppVersion=X.Y.Z build\doorstep.iss
#endif
#ifndef BundleDir
  #define BundleDir "..\dist\doorstep"
#endif
#ifndef OutputDir
  #define OutputDir "..\dist"
#endif
#ifndef AppArch
  #define AppArch "x86_64"
#endif

[Setup]
; The AppId identifies Doorstep to Windows across versions (upgrades, the uninstaller's entry):
; never change it. The doubled brace escapes the GUID's opening one.
AppId={{79F2E8B6-5E1C-4D36-824E-1044AD4731A3}
AppName=Doorstep
AppVersion={#AppVersion}
AppVerName=Doorstep {#AppVersion}
AppPublisher=Doorstep
; Per-user: no elevation, and {localappdata} is this user's, whoever runs the installer.
PrivilegesRequired=lowest
DefaultDirName={localappdata}\Programs\Doorstep
DisableProgramGroupPage=yes
UninstallDisplayName=Doorstep
UninstallDisplayIcon={app}\doorstep.exe
SetupIconFile=icons\doorstep.ico
OutputDir={#OutputDir}
OutputBaseFilename=doorstep-{#AppVersion}-windows-{#AppArch}-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
; The bundle is 64-bit Python; x64compatible also lets it install on Arm64 Windows 11, which
; runs x64 programs. WebView2, which the window needs, exists from Windows 10 on.
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
; A running Doorstep holds its files open: setup offers to close it (Restart Manager).
CloseApplications=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[InstallDelete]
; An upgrade replaces the whole bundle: a module the new version no longer ships must not
; linger in _internal\ and be imported by it.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\Doorstep"; Filename: "{app}\doorstep.exe"; WorkingDir: "{app}"; Comment: "Open Doorstep"
Name: "{autodesktop}\Doorstep"; Filename: "{app}\doorstep.exe"; WorkingDir: "{app}"; Tasks: desktopicon

[Run]
Filename: "{app}\doorstep.exe"; Description: "{cm:LaunchProgram,Doorstep}"; Flags: nowait postinstall skipifsilent
